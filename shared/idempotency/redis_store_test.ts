/**
 * The Redis adapter against the machine's real Redis (REDIS_URL, default
 * redis://127.0.0.1:6379). Every store uses a random key prefix, so runs
 * never see each other's keys, and nothing is ever flushed.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { freePort } from "../testing/process.ts";
import { idempotencyStoreContract } from "./_contract.ts";
import { redisIdempotencyStore } from "./redis_store.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const prefix = () => `securepay-test:${crypto.randomUUID()}:`;

idempotencyStoreContract("redisIdempotencyStore", (ttls) => {
  const store = redisIdempotencyStore({ url: REDIS_URL, keyPrefix: prefix(), ...ttls });
  return Promise.resolve({
    store,
    elapse: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
    [Symbol.asyncDispose]: () => store.close(),
  });
});

Deno.test("redisIdempotencyStore() keeps responses for 24 h by default and claims only for the lock TTL", async () => {
  const keyPrefix = prefix();
  await using store = redisIdempotencyStore({ url: REDIS_URL, keyPrefix });
  const redis = new Redis(REDIS_URL);
  try {
    const claim = await store.begin("alice", "k", "fp");
    if (claim.kind !== "new") throw new Error(`expected new, got ${claim.kind}`);
    const key = `${keyPrefix}5:alice:k`;
    const lockTtl = await redis.pttl(key);
    assert.ok(lockTtl > 0 && lockTtl <= 30_000, `lock TTL ${lockTtl}`);
    await store.complete("alice", "k", claim.token, new Uint8Array([1]));
    const ttl = await redis.pttl(key);
    assert.ok(ttl > 24 * 60 * 60 * 1000 - 60_000, `response TTL ${ttl}`);
    await redis.del(key);
  } finally {
    redis.disconnect();
  }
});

Deno.test("redisIdempotencyStore() fails within its command timeout when Redis cannot be reached", async () => {
  await using store = redisIdempotencyStore({ url: `redis://localhost:${freePort()}`, commandTimeoutMs: 300 });
  const started = performance.now();
  await assert.rejects(() => store.begin("alice", "k", "fp"));
  await assert.rejects(() => store.ping());
  assert.ok(performance.now() - started < 3_000, `took ${performance.now() - started} ms`);
});
