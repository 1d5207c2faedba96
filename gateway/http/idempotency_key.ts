/** The Idempotency-Key header: required where a request must not repeat its effect. */

import type { MiddlewareHandler } from "hono";
import { AppError } from "@securepay/shared";
import type { GatewayEnv } from "./context.ts";

export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";
export const IDEMPOTENCY_KEY_CHARS_MAX = 255;
/** Printable ASCII only; the length (1–255) is checked on its own, for clearer messages. */
export const IDEMPOTENCY_KEY_PATTERN = /^[\x20-\x7E]*$/;

/**
 * Answers idempotency_key_missing when the header is absent; its format is
 * checked by the route's header schema, so that it is documented too.
 */
export function requireIdempotencyKey(): MiddlewareHandler<GatewayEnv> {
  return async function requireIdempotencyKey(c, next) {
    if (c.req.header(IDEMPOTENCY_KEY_HEADER) === undefined) {
      throw new AppError("idempotency_key_missing", "the Idempotency-Key header is required");
    }
    await next();
  };
}
