/** What the gateway's middleware leave on each request's context. */

import type { Logger, Principal } from "@securepay/shared";

export interface GatewayVariables {
  /** The caller's valid `X-Request-Id`, or one we generated. */
  requestId: string;
  /** A logger carrying the request id. */
  logger: Logger;
  /** Set by `authenticate()` on every /v1 route. */
  principal: Principal;
  /** The caller's `Authorization` header, forwarded to services; never logged. */
  authorization: string;
}

export interface GatewayEnv {
  Variables: GatewayVariables;
}
