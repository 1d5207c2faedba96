/**
 * The idempotency store of DESIGN.md §7 (Stripe's semantics): a key, scoped
 * to a principal, holds the fingerprint of the request that first used it,
 * an in-flight lock while that request runs, and then its final response,
 * kept for at least a day. Redis implements it in production
 * (`redis_store.ts`), an in-process map in the embedded dev mode
 * (`memory_store.ts`); both pass one contract suite (`_contract.ts`).
 */

/** What `begin()` found for a (scope, key). */
export type BeginResult =
  /** The key was free: this request owns it until `complete()` or `abandon()` with `token`. */
  | { readonly kind: "new"; readonly token: string }
  /** An earlier request with the same fingerprint finished: answer with its response, byte for byte. */
  | { readonly kind: "replay"; readonly response: Uint8Array }
  /** A request with the same fingerprint still holds the key. */
  | { readonly kind: "in_use" }
  /** The key was used with a different request. */
  | { readonly kind: "mismatch" };

export interface IdempotencyStore extends AsyncDisposable {
  /**
   * Claims `key` within `scope` for a request with `fingerprint`, atomically:
   * of any number of simultaneous callers exactly one gets "new". The claim
   * lapses after the store's lock TTL, so a crashed request frees its key.
   */
  begin(scope: string, key: string, fingerprint: string): Promise<BeginResult>;
  /**
   * Stores the final response of the request holding `token` and keeps it
   * for the store's TTL. Returns false (storing nothing) when the claim was
   * lost, for example because its lock expired.
   */
  complete(scope: string, key: string, token: string, response: Uint8Array): Promise<boolean>;
  /** Releases the claim of `token` without a response, so the key may be used again. */
  abandon(scope: string, key: string, token: string): Promise<boolean>;
  /** A cheap round trip, for readiness. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** How long responses and in-flight claims are kept. */
export interface IdempotencyTtls {
  /** How long a completed response is kept; DESIGN.md §7 asks for at least 24 h. */
  readonly ttlMs: number;
  /** How long an unfinished claim holds the key; longer than any request may run. */
  readonly lockTtlMs: number;
}

export const IDEMPOTENCY_TTL_MS_DEFAULT = 24 * 60 * 60 * 1000;
export const IDEMPOTENCY_LOCK_TTL_MS_DEFAULT = 30_000;

/** Longest scope and key a store accepts; longer ones are programmer errors. */
export const IDEMPOTENCY_PART_MAX_CHARS = 512;
/** Largest response a store keeps. */
export const IDEMPOTENCY_RESPONSE_MAX_BYTES = 64 * 1024;

/** Throws on arguments no caller should pass; the stores call it before any work. */
export function assertStoreArguments(scope: string, key: string, extra?: { response?: Uint8Array }): void {
  for (const [name, value] of [["scope", scope], ["key", key]] as const) {
    if (typeof value !== "string" || value.length === 0 || value.length > IDEMPOTENCY_PART_MAX_CHARS) {
      throw new RangeError(
        `Cannot use an idempotency ${name} as it must be 1..${IDEMPOTENCY_PART_MAX_CHARS} characters: ${
          typeof value === "string" ? value.length : typeof value
        }`,
      );
    }
  }
  if (extra?.response && extra.response.byteLength > IDEMPOTENCY_RESPONSE_MAX_BYTES) {
    throw new RangeError(
      `Cannot store an idempotent response as it exceeds ${IDEMPOTENCY_RESPONSE_MAX_BYTES} bytes: ${extra.response.byteLength}`,
    );
  }
}

export function assertTtls(ttls: IdempotencyTtls): void {
  if (!Number.isInteger(ttls.ttlMs) || ttls.ttlMs < 1) {
    throw new RangeError(`Cannot use ttlMs as it must be a positive integer: ${ttls.ttlMs}`);
  }
  if (!Number.isInteger(ttls.lockTtlMs) || ttls.lockTtlMs < 1 || ttls.lockTtlMs > ttls.ttlMs) {
    throw new RangeError(`Cannot use lockTtlMs as it must be a positive integer up to ttlMs: ${ttls.lockTtlMs}`);
  }
}
