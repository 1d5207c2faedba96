/**
 * The gateway's HTTP application, built from its ports so that tests can
 * drive it with `app.request()` and no socket.
 *
 * Order of the middleware, outermost first: request id → access log and
 * metrics → security headers → authentication (/v1) → guards (/v1: rate
 * limits and circuit breakers slot in here) → per-route checks (roles,
 * Idempotency-Key, bounded JSON body) → zod validation → handler.
 */

import { OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { type Logger, MetricsRegistry, validationError } from "@securepay/shared";
import type { TokenVerifier } from "./auth/jwt_verifier.ts";
import type { AccountsPort, PaymentsPort } from "./domain/ports.ts";
import { accessLog } from "./http/access_log.ts";
import { authenticate } from "./http/authenticate.ts";
import type { GatewayEnv } from "./http/context.ts";
import { BODY_LIMIT_BYTES } from "./http/json_body.ts";
import { handleError, notFoundHandler } from "./http/problem.ts";
import { requestId } from "./http/request_id.ts";
import { fieldIssuesOf, type ValidationTarget } from "./routes/_common.ts";
import { registerAccountRoutes } from "./routes/accounts.ts";
import { registerPaymentRoutes } from "./routes/payments.ts";

export interface AppOptions {
  accounts: AccountsPort;
  payments: PaymentsPort;
  verifier: TokenVerifier;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** 1 MiB unless a test needs another bound. */
  bodyLimitBytes?: number;
  /** Run on /v1 after authentication, before any route: rate limits, circuit breakers. */
  guards?: readonly MiddlewareHandler<GatewayEnv>[];
}

export const API_VERSION = "1.0.0";

const securityHeaders: MiddlewareHandler<GatewayEnv> = async function securityHeaders(c, next) {
  await next();
  c.res.headers.set("x-content-type-options", "nosniff");
  if (!c.res.headers.has("cache-control")) c.res.headers.set("cache-control", "no-store");
};

export function createApp(options: AppOptions): OpenAPIHono<GatewayEnv> {
  const app = new OpenAPIHono<GatewayEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw validationError(fieldIssuesOf(result.error.issues, result.target as ValidationTarget));
      }
    },
  });
  app.use("*", requestId({ logger: options.logger }));
  app.use("*", accessLog({ metrics: options.metrics ?? new MetricsRegistry() }));
  app.use("*", securityHeaders);
  app.use("/v1/*", authenticate({ verifier: options.verifier }));
  for (const guard of options.guards ?? []) app.use("/v1/*", guard);

  const deps = {
    accounts: options.accounts,
    payments: options.payments,
    bodyLimitBytes: options.bodyLimitBytes ?? BODY_LIMIT_BYTES,
  };
  registerAccountRoutes(app, deps);
  registerPaymentRoutes(app, deps);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An access token from the identity provider (RS256, ES256 or EdDSA)",
  });
  // Generated once, on first request; a failure surfaces as an internal problem like any other.
  let document: unknown;
  app.get("/openapi.json", (c) => {
    document ??= app.getOpenAPI31Document({
      openapi: "3.1.0",
      info: {
        title: "SecurePay API",
        version: API_VERSION,
        description: "Money moves between accounts as integer minor units. Errors are RFC 9457 problems.",
      },
    });
    return c.json(document, 200, { "cache-control": "public, max-age=300" });
  });

  app.onError(handleError);
  app.notFound(notFoundHandler(methodsByPath(app.routes)));
  return app;
}

/** For each registered route pattern, the methods it answers (HEAD comes with GET). */
function methodsByPath(routes: readonly { method: string; path: string }[]): (path: string) => string[] {
  const patterns = new Map<string, { pattern: RegExp; methods: Set<string> }>();
  for (const route of routes) {
    if (route.method === "ALL") continue;
    const source = "^" + route.path.split("/").map((s) => s.startsWith(":") ? "[^/]+" : escapeRegExp(s)).join("/") +
      "$";
    const entry = patterns.get(source) ?? { pattern: new RegExp(source), methods: new Set<string>() };
    entry.methods.add(route.method);
    if (route.method === "GET") entry.methods.add("HEAD");
    patterns.set(source, entry);
  }
  return (path) => {
    const methods = new Set<string>();
    for (const { pattern, methods: m } of patterns.values()) if (pattern.test(path)) m.forEach((x) => methods.add(x));
    return [...methods].sort();
  };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
