import assert from "node:assert/strict";
import { CONTRACT_TTLS, idempotencyStoreContract } from "./_contract.ts";
import { memoryIdempotencyStore } from "./memory_store.ts";

idempotencyStoreContract("memoryIdempotencyStore", (ttls) => {
  let now = 1_700_000_000_000;
  const store = memoryIdempotencyStore({ ...ttls, nowMs: () => now });
  return Promise.resolve({
    store,
    elapse: (ms: number) => {
      now += ms;
      return Promise.resolve();
    },
    [Symbol.asyncDispose]: () => store.close(),
  });
});

Deno.test("memoryIdempotencyStore() keeps at most entriesMax keys, dropping expired ones before the oldest", async () => {
  let now = 0;
  const store = memoryIdempotencyStore({ ...CONTRACT_TTLS, entriesMax: 3, nowMs: () => now });
  await store.begin("p", "old", "fp");
  now += CONTRACT_TTLS.lockTtlMs + 1;
  await store.begin("p", "a", "fp");
  await store.begin("p", "b", "fp");
  await store.begin("p", "c", "fp"); // full: the expired "old" goes
  assert.equal((await store.begin("p", "a", "fp")).kind, "in_use");
  await store.begin("p", "d", "fp"); // full, nothing expired: the oldest, "a", goes
  assert.equal((await store.begin("p", "b", "fp")).kind, "in_use");
  assert.equal((await store.begin("p", "a", "fp")).kind, "new");
  assert.throws(() => memoryIdempotencyStore({ entriesMax: 0 }), RangeError);
  assert.throws(() => memoryIdempotencyStore({ ttlMs: 10, lockTtlMs: 20 }), RangeError);
});
