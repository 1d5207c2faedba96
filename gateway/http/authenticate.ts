/** Requires a valid bearer token and leaves the principal on the context. */

import type { MiddlewareHandler } from "hono";
import { AppError } from "@securepay/shared";
import { invalidToken, type TokenVerifier } from "../auth/jwt_verifier.ts";
import type { GatewayEnv } from "./context.ts";

const BEARER = /^Bearer +([A-Za-z0-9._~+/=-]+)$/i;

export function authenticate(options: { verifier: TokenVerifier }): MiddlewareHandler<GatewayEnv> {
  return async function authenticate(c, next) {
    const header = c.req.header("authorization");
    if (header === undefined) throw new AppError("unauthenticated", "a bearer token is required");
    const match = BEARER.exec(header.trim());
    if (!match) throw invalidToken();
    const principal = await options.verifier.verify(match[1]!);
    c.set("principal", principal);
    c.set("authorization", `Bearer ${match[1]}`);
    c.set("logger", c.var.logger.with({ subject: principal.subject }));
    await next();
  };
}
