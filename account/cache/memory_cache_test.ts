import assert from "node:assert/strict";
import { account, balanceCacheContract } from "./_contract.ts";
import { memoryBalanceCache } from "./memory_cache.ts";

balanceCacheContract("memoryBalanceCache", ({ ttlMs }) => {
  let nowMs = 1_000_000;
  const cache = memoryBalanceCache({ ttlMs, nowMs: () => nowMs });
  return Promise.resolve({
    cache,
    elapse: (ms: number) => {
      nowMs += ms;
      return Promise.resolve();
    },
    [Symbol.asyncDispose]: () => cache.close(),
  });
});

Deno.test("memoryBalanceCache() keeps at most entriesMax entries, dropping the least recently used", async () => {
  await using cache = memoryBalanceCache({ entriesMax: 3 });
  const [a, b, c, d] = [account(1), account(1), account(1), account(1)];
  await cache.put(a!);
  await cache.put(b!);
  await cache.put(c!);
  assert.deepEqual(await cache.get(a!.id), a, "reading a makes b the least recently used");
  await cache.put(d!);
  assert.equal(await cache.get(b!.id), undefined);
  for (const kept of [a!, c!, d!]) assert.deepEqual(await cache.get(kept.id), kept);
});

Deno.test("memoryBalanceCache() refuses a negative or fractional version and bad bounds", async () => {
  await using cache = memoryBalanceCache();
  await assert.rejects(() => cache.put(account(-1)), RangeError);
  await assert.rejects(() => cache.invalidate([{ id: crypto.randomUUID(), version: 1.5 }]), RangeError);
  assert.throws(() => memoryBalanceCache({ entriesMax: 0 }), RangeError);
  assert.throws(() => memoryBalanceCache({ ttlMs: 0 }), RangeError);
});
