/**
 * The in-process balance cache for the embedded dev mode (no REDIS_URL):
 * bounded in entries (least recently used goes first) and in time (TTL).
 * It is one process's view only; replicas need the Redis adapter.
 */

import type { Account } from "../domain/account.ts";
import { assertVersion, BALANCE_CACHE_TTL_MS_DEFAULT, type BalanceCache } from "./balance_cache.ts";

export interface MemoryBalanceCacheOptions {
  /** Entries (values and invalidation marks) kept at most. Default 10000. */
  entriesMax?: number;
  ttlMs?: number;
  /** Clock in milliseconds; tests pass a manual one. */
  nowMs?: () => number;
}

interface Entry {
  /** The cached value's version, or the floor set by an invalidation. */
  version: number;
  /** Undefined for an invalidation mark. */
  account: Account | undefined;
  expiresAtMs: number;
}

export function memoryBalanceCache(options: MemoryBalanceCacheOptions = {}): BalanceCache {
  const entriesMax = options.entriesMax ?? 10_000;
  const ttlMs = options.ttlMs ?? BALANCE_CACHE_TTL_MS_DEFAULT;
  if (!Number.isInteger(entriesMax) || entriesMax < 1) {
    throw new RangeError(`Cannot create a balance cache as entriesMax must be a positive integer: ${entriesMax}`);
  }
  if (!Number.isInteger(ttlMs) || ttlMs < 1) {
    throw new RangeError(`Cannot create a balance cache as ttlMs must be a positive integer: ${ttlMs}`);
  }
  const nowMs = options.nowMs ?? Date.now;
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, Entry>();

  const live = (id: string): Entry | undefined => {
    const entry = entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expiresAtMs <= nowMs()) {
      entries.delete(id);
      return undefined;
    }
    return entry;
  };
  const set = (id: string, entry: Entry) => {
    entries.delete(id);
    entries.set(id, entry);
    while (entries.size > entriesMax) entries.delete(entries.keys().next().value!);
  };

  return {
    get(anyCaseId) {
      const id = anyCaseId.toLowerCase();
      const entry = live(id);
      if (entry?.account === undefined) return Promise.resolve(undefined);
      set(id, entry);
      return Promise.resolve(entry.account);
    },
    put(account) {
      return settle(() => {
        assertVersion(account.version);
        const id = account.id.toLowerCase();
        const entry = live(id);
        const stale = entry !== undefined &&
          (entry.account === undefined ? account.version < entry.version : account.version <= entry.version);
        if (!stale) set(id, { version: account.version, account, expiresAtMs: nowMs() + ttlMs });
      });
    },
    invalidate(accounts) {
      return settle(() => {
        for (const { version } of accounts) assertVersion(version);
        for (const { id: anyCaseId, version } of accounts) {
          const id = anyCaseId.toLowerCase();
          const entry = live(id);
          if (entry !== undefined && entry.version >= version) continue;
          set(id, { version, account: undefined, expiresAtMs: nowMs() + ttlMs });
        }
      });
    },
    close() {
      entries.clear();
      return Promise.resolve();
    },
    [Symbol.asyncDispose]() {
      entries.clear();
      return Promise.resolve();
    },
  };
}

/** Runs `work` now and reports its outcome as a promise, as the Redis adapter would. */
function settle(work: () => void): Promise<void> {
  try {
    work();
    return Promise.resolve();
  } catch (error) {
    return Promise.reject(error);
  }
}
