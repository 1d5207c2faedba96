/**
 * @module
 * Idempotency keys with Stripe's semantics (DESIGN.md §7): one interface,
 * a Redis adapter for production and an in-process adapter for the
 * embedded dev mode.
 */

export * from "./types.ts";
export { memoryIdempotencyStore, type MemoryIdempotencyStoreOptions } from "./memory_store.ts";
export { redisIdempotencyStore, type RedisIdempotencyStoreOptions } from "./redis_store.ts";
