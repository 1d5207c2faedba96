/**
 * IdempotencyStore in this process's memory, for the embedded dev mode
 * where there is no Redis. Bounded: at most `entriesMax` keys; when full,
 * expired keys go first, then the oldest. Time comes from an injected clock
 * so tests can move it.
 */

import {
  assertStoreArguments,
  assertTtls,
  type BeginResult,
  IDEMPOTENCY_LOCK_TTL_MS_DEFAULT,
  IDEMPOTENCY_TTL_MS_DEFAULT,
  type IdempotencyStore,
} from "./types.ts";

export interface MemoryIdempotencyStoreOptions {
  readonly ttlMs?: number;
  readonly lockTtlMs?: number;
  /** Keys kept at most. Default 10 000. */
  readonly entriesMax?: number;
  /** Milliseconds since the epoch; `Date.now` unless a test pins it. */
  readonly nowMs?: () => number;
}

interface Entry {
  readonly fingerprint: string;
  /** The claim of the running request; undefined once completed. */
  token: string | undefined;
  response: Uint8Array | undefined;
  expiresAtMs: number;
}

export function memoryIdempotencyStore(options: MemoryIdempotencyStoreOptions = {}): IdempotencyStore {
  const ttls = {
    ttlMs: options.ttlMs ?? IDEMPOTENCY_TTL_MS_DEFAULT,
    lockTtlMs: options.lockTtlMs ?? IDEMPOTENCY_LOCK_TTL_MS_DEFAULT,
  };
  assertTtls(ttls);
  const entriesMax = options.entriesMax ?? 10_000;
  if (!Number.isInteger(entriesMax) || entriesMax < 1) {
    throw new RangeError(`Cannot use entriesMax as it must be a positive integer: ${entriesMax}`);
  }
  const nowMs = options.nowMs ?? Date.now;
  const entries = new Map<string, Entry>();
  // Scope and key never collide with another pair: the scope's length comes first.
  const idOf = (scope: string, key: string) => `${scope.length}:${scope}:${key}`;

  const live = (id: string, now: number): Entry | undefined => {
    const entry = entries.get(id);
    if (entry && entry.expiresAtMs <= now) {
      entries.delete(id);
      return undefined;
    }
    return entry;
  };

  const makeRoom = (now: number) => {
    if (entries.size < entriesMax) return;
    for (const [id, entry] of entries) if (entry.expiresAtMs <= now) entries.delete(id);
    // Still full: the oldest key goes. The database remains the backstop against a second payment.
    while (entries.size >= entriesMax) {
      const oldest = entries.keys().next();
      if (oldest.done) break;
      entries.delete(oldest.value);
    }
  };

  return {
    begin: (scope, key, fingerprint) =>
      settle((): BeginResult => {
        assertStoreArguments(scope, key);
        const now = nowMs();
        const id = idOf(scope, key);
        const entry = live(id, now);
        if (!entry) {
          makeRoom(now);
          const token = crypto.randomUUID();
          entries.set(id, { fingerprint, token, response: undefined, expiresAtMs: now + ttls.lockTtlMs });
          return { kind: "new", token };
        }
        if (entry.fingerprint !== fingerprint) return { kind: "mismatch" };
        if (entry.response) return { kind: "replay", response: entry.response.slice() };
        return { kind: "in_use" };
      }),

    complete: (scope, key, token, response) =>
      settle(() => {
        assertStoreArguments(scope, key, { response });
        const now = nowMs();
        const entry = live(idOf(scope, key), now);
        if (!entry || entry.token !== token) return false;
        entry.token = undefined;
        // A copy, so a caller reusing its buffer cannot change what is replayed.
        entry.response = response.slice();
        entry.expiresAtMs = now + ttls.ttlMs;
        return true;
      }),

    abandon: (scope, key, token) =>
      settle(() => {
        assertStoreArguments(scope, key);
        const id = idOf(scope, key);
        const entry = live(id, nowMs());
        if (!entry || entry.token !== token) return false;
        entries.delete(id);
        return true;
      }),

    ping: () => Promise.resolve(),
    close() {
      entries.clear();
      return Promise.resolve();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}

/** Runs `work` now and answers as a promise, so a thrown argument error becomes a rejection like Redis's. */
function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}
