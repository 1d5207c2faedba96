/**
 * Runs a write under an Idempotency-Key with Stripe's semantics (DESIGN.md
 * §7): the first request claims the key and its encoded response is kept;
 * a repeat gets those bytes back; a different request under the same key,
 * or a repeat while the first still runs, is refused. Failed requests
 * release the key, so a retry runs again. When the store itself fails, the
 * request runs anyway: the database's unique (principal, key) still allows
 * at most one payment or refund per key.
 */

import { AppError, type Logger, type MetricsRegistry } from "@securepay/shared";
import type { BeginResult, IdempotencyStore } from "@securepay/shared/idempotency";

/** How a response becomes the stored bytes and back. */
export interface ResponseCodec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(bytes: Uint8Array): T;
}

export interface IdempotentClaim {
  /** Who the key belongs to: the principal. */
  readonly scope: string;
  readonly key: string;
  /** What the request asks; a different one under the same key is refused. */
  readonly fingerprint: string;
}

export interface IdempotentRunner {
  /**
   * The response of `work`, run at most once per claim, or the stored one
   * (`replayed: true`). Throws idempotency_key_in_use or
   * idempotency_key_reused instead of running.
   */
  run<T>(
    claim: IdempotentClaim,
    codec: ResponseCodec<T>,
    work: () => Promise<T>,
  ): Promise<{ response: T; replayed: boolean }>;
}

export function idempotentRunner(
  store: IdempotencyStore,
  options: { logger: Logger; metrics?: MetricsRegistry },
): IdempotentRunner {
  const outcomes = options.metrics?.counter(
    "payment_idempotency_total",
    "Idempotency-Key checks by result: new, replay, in_use, mismatch or store_error.",
  );
  const logFailure = (step: string, error: unknown) => {
    outcomes?.inc({ result: "store_error" });
    options.logger.warn("idempotency store failed; the database guards the key", {
      step,
      error: error instanceof Error ? error.message : String(error),
    });
  };

  return {
    async run(claim, codec, work) {
      let begun: BeginResult | undefined;
      try {
        begun = await store.begin(claim.scope, claim.key, claim.fingerprint);
      } catch (error) {
        logFailure("begin", error);
      }
      if (begun) outcomes?.inc({ result: begun.kind });
      switch (begun?.kind) {
        case "replay":
          return { response: codec.decode(begun.response), replayed: true };
        case "in_use":
          throw new AppError("idempotency_key_in_use", "a request with this Idempotency-Key is still running");
        case "mismatch":
          throw new AppError("idempotency_key_reused", "Idempotency-Key was already used with a different request");
      }
      const token = begun?.token;
      let response;
      try {
        response = await work();
      } catch (error) {
        if (token !== undefined) {
          await store.abandon(claim.scope, claim.key, token).catch((e) => logFailure("abandon", e));
        }
        throw error;
      }
      if (token !== undefined) {
        const bytes = codec.encode(response).finish();
        const kept = await store.complete(claim.scope, claim.key, token, bytes).catch((e) => {
          logFailure("complete", e);
          return true;
        });
        // A claim outlived by its own request is a lock TTL set too short; the database still holds.
        if (!kept) options.logger.warn("idempotency claim expired before the response was stored");
      }
      return { response, replayed: false };
    },
  };
}
