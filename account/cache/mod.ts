/**
 * @module
 * The balance cache: the port, its Redis and in-process adapters, and the
 * read-aside wrapper the service puts around its store.
 */

export * from "./balance_cache.ts";
export * from "./memory_cache.ts";
export * from "./read_aside.ts";
export * from "./redis_cache.ts";
