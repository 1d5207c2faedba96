/**
 * The admin HTTP server every program runs: `/healthz` (the process is
 * alive), `/readyz` (its dependencies answer) and `/metrics` (Prometheus).
 */

import type { Logger } from "./log.ts";
import type { MetricsRegistry } from "./metrics.ts";

/** A named dependency check; it throws or rejects when not ready. */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<void>;
}

export interface AdminServerOptions {
  host?: string;
  port: number;
  logger: Logger;
  metrics: MetricsRegistry;
  checks?: readonly ReadinessCheck[];
  /** Bound on each readiness check. */
  checkTimeoutMs?: number;
}

export interface AdminServer extends AsyncDisposable {
  readonly port: number;
  /** Stops reporting ready, so that load balancers drain this instance. */
  drain(): void;
  close(): Promise<void>;
}

export function serveAdmin(options: AdminServerOptions): AdminServer {
  let draining = false;
  const timeoutMs = options.checkTimeoutMs ?? 2_000;
  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

  const server = Deno.serve({
    hostname: options.host ?? "0.0.0.0",
    port: options.port,
    onListen: () => {},
  }, async (request) => {
    const { pathname } = new URL(request.url);
    if (request.method !== "GET" && request.method !== "HEAD") return json(405, { status: "method not allowed" });
    switch (pathname) {
      case "/healthz":
        return json(200, { status: "ok" });
      case "/readyz": {
        if (draining) return json(503, { status: "draining" });
        const results = await Promise.all((options.checks ?? []).map(async (c) => {
          let timer: ReturnType<typeof setTimeout> | undefined;
          try {
            await Promise.race([
              c.check(),
              new Promise((_, reject) => {
                timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
              }),
            ]);
            return [c.name, "ok"] as const;
          } catch (error) {
            options.logger.warn("readiness check failed", { check: c.name, error });
            return [c.name, "failing"] as const;
          } finally {
            clearTimeout(timer);
          }
        }));
        const ok = results.every(([, s]) => s === "ok");
        return json(ok ? 200 : 503, { status: ok ? "ready" : "not ready", checks: Object.fromEntries(results) });
      }
      case "/metrics":
        return new Response(options.metrics.render(), {
          headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
        });
      default:
        return json(404, { status: "not found" });
    }
  });
  options.logger.info("admin listening", { port: server.addr.port });
  const close = async () => {
    await server.shutdown();
  };
  return {
    port: server.addr.port,
    drain() {
      draining = true;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
