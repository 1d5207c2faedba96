/**
 * The contract every BalanceCache adapter passes: versions only move
 * forward, invalidations hold back stale readers, and entries expire.
 */

import assert from "node:assert/strict";
import type { Account } from "../domain/account.ts";
import type { BalanceCache } from "./balance_cache.ts";

export interface CacheUnderTest extends AsyncDisposable {
  readonly cache: BalanceCache;
  /** Lets `ms` pass for the cache's clock (real time for Redis). */
  elapse(ms: number): Promise<void>;
}

export type CacheFactory = (options: { ttlMs: number }) => Promise<CacheUnderTest>;

/** A TTL long enough for a test's steps, short enough to wait out. */
const SHORT_TTL_MS = 300;
const LONG_TTL_MS = 60_000;

export function account(version: number, balance = version * 100, id: string = crypto.randomUUID()): Account {
  return {
    id,
    ownerId: "alice",
    currency: "EUR",
    balance,
    version,
    status: "OPEN",
    createdAt: new Date("2030-01-01T00:00:00.000Z"),
    updatedAt: new Date(Date.UTC(2030, 0, 1, 0, 0, version)),
  };
}

export function balanceCacheContract(name: string, factory: CacheFactory): void {
  Deno.test(`${name}: get() misses an unknown id and returns what put() stored, dates included`, async () => {
    await using t = await factory({ ttlMs: LONG_TTL_MS });
    const stored = account(3);
    assert.equal(await t.cache.get(stored.id), undefined);
    await t.cache.put(stored);
    assert.deepEqual(await t.cache.get(stored.id), stored);
    assert.equal(await t.cache.get(crypto.randomUUID()), undefined);
  });

  Deno.test(`${name}: put() never replaces a version with an older or equal one`, async () => {
    await using t = await factory({ ttlMs: LONG_TTL_MS });
    const newer = account(5);
    await t.cache.put(newer);
    await t.cache.put(account(3, 1, newer.id));
    await t.cache.put(account(5, 999, newer.id));
    assert.deepEqual(await t.cache.get(newer.id), newer);
    const newest = account(6, 7, newer.id);
    await t.cache.put(newest);
    assert.deepEqual(await t.cache.get(newer.id), newest);
  });

  Deno.test(`${name}: of racing puts the newest version wins, whatever the order`, async () => {
    await using t = await factory({ ttlMs: LONG_TTL_MS });
    const id = crypto.randomUUID();
    const versions = Array.from({ length: 40 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    await Promise.all(versions.map((v) => t.cache.put(account(v, v, id))));
    assert.equal((await t.cache.get(id))?.version, 40);
  });

  Deno.test(`${name}: invalidate() drops older values and refuses a stale reader's later put`, async () => {
    await using t = await factory({ ttlMs: LONG_TTL_MS });
    const before = account(5);
    await t.cache.put(before);
    await t.cache.invalidate([{ id: before.id, version: 6 }]);
    assert.equal(await t.cache.get(before.id), undefined);
    // A reader that fetched version 5 before the change committed puts it late.
    await t.cache.put(before);
    assert.equal(await t.cache.get(before.id), undefined);
    const after = account(6, 42, before.id);
    await t.cache.put(after);
    assert.deepEqual(await t.cache.get(before.id), after);
  });

  Deno.test(`${name}: invalidate() keeps a value at or above its version and marks unknown ids`, async () => {
    await using t = await factory({ ttlMs: LONG_TTL_MS });
    const current = account(8);
    await t.cache.put(current);
    const unknown = crypto.randomUUID();
    await t.cache.invalidate([{ id: current.id, version: 8 }, { id: unknown, version: 2 }]);
    assert.deepEqual(await t.cache.get(current.id), current);
    await t.cache.put(account(1, 1, unknown));
    assert.equal(await t.cache.get(unknown), undefined);
    await t.cache.invalidate([{ id: unknown, version: 1 }]);
    await t.cache.put(account(1, 1, unknown));
    assert.equal(await t.cache.get(unknown), undefined, "a lower invalidation does not lower the floor");
    await t.cache.invalidate([]);
  });

  Deno.test(`${name}: values and invalidation marks expire after the TTL`, async () => {
    await using t = await factory({ ttlMs: SHORT_TTL_MS });
    const value = account(4);
    const marked = account(2);
    await t.cache.put(value);
    await t.cache.invalidate([{ id: marked.id, version: 9 }]);
    await t.elapse(SHORT_TTL_MS * 2);
    assert.equal(await t.cache.get(value.id), undefined);
    await t.cache.put(marked);
    assert.deepEqual(await t.cache.get(marked.id), marked, "an expired mark no longer refuses puts");
  });
}
