/** Gives every request an id, echoed in `X-Request-Id` on every response. */

import type { MiddlewareHandler } from "hono";
import type { Logger } from "@securepay/shared";
import type { GatewayEnv } from "./context.ts";

export const REQUEST_ID_HEADER = "x-request-id";
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._-]{1,128}$/;

/** The caller's id when it is safe to log and forward, else a fresh UUID. */
export function requestIdOf(header: string | undefined): string {
  return header !== undefined && ACCEPTABLE_REQUEST_ID.test(header) ? header : crypto.randomUUID();
}

export function requestId(options: { logger: Logger }): MiddlewareHandler<GatewayEnv> {
  return async function requestId(c, next) {
    const id = requestIdOf(c.req.header(REQUEST_ID_HEADER));
    c.set("requestId", id);
    c.set("logger", options.logger.with({ request_id: id }));
    await next();
    c.res.headers.set(REQUEST_ID_HEADER, id);
  };
}
