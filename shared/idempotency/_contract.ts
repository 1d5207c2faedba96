/**
 * The one contract every IdempotencyStore adapter passes: replay byte for
 * byte, mismatch, in flight, abandon, expiry and atomicity under 50
 * simultaneous claims. Each adapter's test file runs it with its own store.
 */

import assert from "node:assert/strict";
import type { IdempotencyStore } from "./types.ts";

/** A store under test, and how to let time pass for it. */
export interface ContractSubject extends AsyncDisposable {
  readonly store: IdempotencyStore;
  /** Lets `ms` pass as the store sees time (a clock step, or a real wait). */
  elapse(ms: number): Promise<void>;
}

export const CONTRACT_TTLS = { ttlMs: 1_200, lockTtlMs: 400 } as const;

export function idempotencyStoreContract(
  adapter: string,
  subject: (ttls: typeof CONTRACT_TTLS) => Promise<ContractSubject>,
): void {
  const test = (name: string, fn: (s: ContractSubject) => Promise<void>) =>
    Deno.test(`${adapter}: ${name}`, async () => {
      await using s = await subject(CONTRACT_TTLS);
      await fn(s);
    });
  const scope = () => `principal-${crypto.randomUUID()}`;

  test("begin() claims a free key once, and a completed key replays its response byte for byte", async ({ store }) => {
    const p = scope();
    const first = await store.begin(p, "key-1", "fp-a");
    assert.equal(first.kind, "new");
    if (first.kind !== "new") return;
    // Every byte value, zeros and invalid UTF-8 included, must survive the round trip.
    const response = new Uint8Array(512);
    for (let i = 0; i < response.length; i++) response[i] = (i * 7) % 256;
    assert.equal(await store.complete(p, "key-1", first.token, response), true);
    response.fill(0);
    for (let i = 0; i < 2; i++) {
      const again = await store.begin(p, "key-1", "fp-a");
      assert.equal(again.kind, "replay");
      if (again.kind !== "replay") return;
      assert.ok(again.response instanceof Uint8Array);
      assert.deepEqual([...again.response], Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
    }
  });

  test("begin() answers mismatch for a different fingerprint, in flight or completed", async ({ store }) => {
    const p = scope();
    const first = await store.begin(p, "k", "fp-a");
    assert.equal(first.kind, "new");
    assert.deepEqual(await store.begin(p, "k", "fp-b"), { kind: "mismatch" });
    if (first.kind === "new") await store.complete(p, "k", first.token, new Uint8Array([1]));
    assert.deepEqual(await store.begin(p, "k", "fp-b"), { kind: "mismatch" });
    assert.equal((await store.begin(p, "k", "fp-a")).kind, "replay");
  });

  test("begin() answers in_use while the first request runs, and abandon() frees the key", async ({ store }) => {
    const p = scope();
    const first = await store.begin(p, "k", "fp");
    assert.equal(first.kind, "new");
    assert.deepEqual(await store.begin(p, "k", "fp"), { kind: "in_use" });
    if (first.kind !== "new") return;
    assert.equal(await store.abandon(p, "k", "not-the-token"), false);
    assert.deepEqual(await store.begin(p, "k", "fp"), { kind: "in_use" });
    assert.equal(await store.abandon(p, "k", first.token), true);
    const second = await store.begin(p, "k", "fp-other");
    assert.equal(second.kind, "new", "an abandoned key is free for any request");
  });

  test("complete() and abandon() with a token that does not hold the key change nothing", async ({ store }) => {
    const p = scope();
    assert.equal(await store.complete(p, "k", crypto.randomUUID(), new Uint8Array([1])), false);
    assert.equal(await store.abandon(p, "k", crypto.randomUUID()), false);
    const first = await store.begin(p, "k", "fp");
    if (first.kind !== "new") throw new Error(`expected new, got ${first.kind}`);
    assert.equal(await store.complete(p, "k", crypto.randomUUID(), new Uint8Array([2])), false);
    assert.equal(await store.complete(p, "k", first.token, new Uint8Array([3])), true);
    // Completed: the token no longer holds anything, so neither a second complete nor an abandon applies.
    assert.equal(await store.complete(p, "k", first.token, new Uint8Array([4])), false);
    assert.equal(await store.abandon(p, "k", first.token), false);
    const replay = await store.begin(p, "k", "fp");
    assert.deepEqual(replay.kind === "replay" ? [...replay.response] : replay, [3]);
  });

  test("keys are scoped: the same key in another scope, or a look-alike pair, is another key", async ({ store }) => {
    const p = scope();
    assert.equal((await store.begin(p, "k", "fp")).kind, "new");
    assert.equal((await store.begin(`${p}-other`, "k", "fp")).kind, "new");
    assert.equal((await store.begin("a:1", "b", "fp")).kind, "new");
    assert.equal((await store.begin("a", "1:b", "fp")).kind, "new");
  });

  test("an unfinished claim lapses after the lock TTL, so a crashed request frees its key", async (s) => {
    const p = scope();
    const crashed = await s.store.begin(p, "k", "fp");
    assert.equal(crashed.kind, "new");
    await s.elapse(CONTRACT_TTLS.lockTtlMs + 150);
    const retry = await s.store.begin(p, "k", "fp");
    assert.equal(retry.kind, "new");
    // The crashed request's late completion must not overwrite the retry's claim.
    if (crashed.kind === "new") assert.equal(await s.store.complete(p, "k", crashed.token, new Uint8Array([9])), false);
    assert.deepEqual(await s.store.begin(p, "k", "fp"), { kind: "in_use" });
  });

  test("a completed response is kept for the TTL and then forgotten", async (s) => {
    const p = scope();
    const first = await s.store.begin(p, "k", "fp");
    if (first.kind !== "new") throw new Error(`expected new, got ${first.kind}`);
    await s.store.complete(p, "k", first.token, new Uint8Array([7]));
    // Longer than the lock TTL: completion extended the key to the full TTL.
    await s.elapse(CONTRACT_TTLS.lockTtlMs + 150);
    assert.equal((await s.store.begin(p, "k", "fp")).kind, "replay");
    await s.elapse(CONTRACT_TTLS.ttlMs);
    assert.equal((await s.store.begin(p, "k", "fp-new")).kind, "new");
  });

  test("of 50 simultaneous begins with one key exactly one is new, the rest in_use; then all replay", async ({ store }) => {
    const p = scope();
    const results = await Promise.all(Array.from({ length: 50 }, () => store.begin(p, "same", "fp")));
    const winners = results.filter((r) => r.kind === "new");
    assert.equal(winners.length, 1);
    assert.equal(results.filter((r) => r.kind === "in_use").length, 49);
    const winner = winners[0]!;
    if (winner.kind === "new") await store.complete(p, "same", winner.token, new Uint8Array([1, 2, 3]));
    const replays = await Promise.all(Array.from({ length: 50 }, () => store.begin(p, "same", "fp")));
    assert.ok(replays.every((r) => r.kind === "replay" && r.response.join() === "1,2,3"));
  });

  test("begin() refuses empty or oversized scopes and keys as programmer errors", async ({ store }) => {
    await assert.rejects(() => store.begin("", "k", "fp"), RangeError);
    await assert.rejects(() => store.begin("p", "k".repeat(513), "fp"), RangeError);
    await assert.rejects(() => store.complete("p", "k", "t", new Uint8Array(64 * 1024 + 1)), RangeError);
  });
}
