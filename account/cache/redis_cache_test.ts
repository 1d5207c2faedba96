/**
 * The Redis adapter against the machine's real Redis (REDIS_URL, default
 * redis://127.0.0.1:6379). Each cache gets a random key prefix whose keys
 * are deleted afterwards; nothing is ever flushed.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { freePort } from "@securepay/shared/testing";
import { account, balanceCacheContract } from "./_contract.ts";
import { redisBalanceCache } from "./redis_cache.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const newPrefix = () => `securepay-test:${crypto.randomUUID()}:`;

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

balanceCacheContract("redisBalanceCache", ({ ttlMs }) => {
  const keyPrefix = newPrefix();
  const cache = redisBalanceCache({ url: REDIS_URL, keyPrefix, ttlMs });
  return Promise.resolve({
    cache,
    elapse: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    [Symbol.asyncDispose]: async () => {
      await cache.close();
      await deleteKeys(keyPrefix);
    },
  });
});

Deno.test("redisBalanceCache() stores one hash per account under the prefix with the TTL", async () => {
  const keyPrefix = newPrefix();
  const cache = redisBalanceCache({ url: REDIS_URL, keyPrefix, ttlMs: 120_000 });
  const redis = new Redis(REDIS_URL);
  try {
    const stored = account(7);
    await cache.put(stored);
    const key = `${keyPrefix}${stored.id}`;
    assert.equal(await redis.hget(key, "v"), "7");
    const ttl = await redis.pttl(key);
    assert.ok(ttl > 110_000 && ttl <= 120_000, `TTL ${ttl}`);
  } finally {
    redis.disconnect();
    await cache.close();
    await deleteKeys(keyPrefix);
  }
});

Deno.test("redisBalanceCache() fails within its command timeout when Redis cannot be reached", async () => {
  await using cache = redisBalanceCache({ url: `redis://localhost:${freePort()}`, commandTimeoutMs: 200 });
  const started = performance.now();
  await assert.rejects(() => cache.get(crypto.randomUUID()));
  await assert.rejects(() => cache.put(account(1)));
  await assert.rejects(() => cache.invalidate([{ id: crypto.randomUUID(), version: 1 }]));
  assert.ok(performance.now() - started < 3_000, `took ${performance.now() - started} ms`);
});
