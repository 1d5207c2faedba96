/**
 * One log line and two metrics per request. Routes are labelled by their
 * pattern (`/v1/accounts/:id`), never by the raw path, so that callers
 * cannot grow the metric series; the Authorization header is never logged.
 */

import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import type { MetricsRegistry } from "@securepay/shared";
import type { GatewayEnv } from "./context.ts";

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

/** The pattern of the route that answered, or `unmatched`. */
export function routeLabel(c: Context): string {
  const routes = matchedRoutes(c).filter((r) => r.method !== "ALL");
  return routes.at(-1)?.path ?? "unmatched";
}

export function accessLog(options: { metrics: MetricsRegistry; now?: () => number }): MiddlewareHandler<GatewayEnv> {
  const now = options.now ?? (() => performance.now());
  const requests = options.metrics.counter("http_requests_total", "HTTP requests answered, by route and status");
  const durations = options.metrics.histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by route",
  );
  return async function accessLog(c, next) {
    const started = now();
    await next();
    const durationMs = now() - started;
    const route = routeLabel(c);
    const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
    const status = c.res.status;
    requests.inc({ method, route, status: String(status) });
    durations.observe(durationMs / 1000, { method, route });
    const fields = {
      method,
      path: c.req.path.slice(0, 256),
      route,
      status,
      duration_ms: Math.round(durationMs * 100) / 100,
    };
    if (status >= 500) c.var.logger.warn("request", fields);
    else c.var.logger.info("request", fields);
  };
}
