/**
 * The gateway app as tests drive it: real gRPC clients to the given
 * addresses, a real JWT verifier fetching a test IdP's JWKS over HTTP, and
 * `app.request()` without a socket.
 */

import { credentials } from "@grpc/grpc-js";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createLogger, MetricsRegistry, type Role } from "@securepay/shared";
import { freePort } from "@securepay/shared/testing";
import { createApp } from "../app.ts";
import { createJwtVerifier, remoteKeySource } from "../auth/jwt_verifier.ts";
import { grpcAccounts, grpcPayments } from "../grpc/clients.ts";
import type { GatewayEnv } from "../http/context.ts";
import { startTestIdp, type TestIdp } from "./_test_idp.ts";

export interface CallOptions {
  token?: string;
  /** Serialised as JSON with Content-Type application/json. */
  json?: unknown;
  /** Sent as is; set the content type yourself. */
  body?: BodyInit;
  headers?: Record<string, string>;
  idempotencyKey?: string;
}

export interface Answer {
  status: number;
  headers: Headers;
  // deno-lint-ignore no-explicit-any
  body: any;
  text: string;
}

export interface Harness extends AsyncDisposable {
  readonly app: OpenAPIHono<GatewayEnv>;
  readonly idp: TestIdp;
  readonly metrics: MetricsRegistry;
  /** Every log line the gateway wrote. */
  readonly logs: string[];
  /** A valid token for `sub` with `roles` (none: a USER). */
  token(sub: string, ...roles: Role[]): Promise<string>;
  call(method: string, path: string, options?: CallOptions): Promise<Answer>;
}

export interface HarnessOptions {
  /** Where the account service listens; by default a port where nothing does. */
  accountAddr?: string;
  paymentAddr?: string;
  deadlineMs?: number;
}

/** `localhost:<port>` where nothing listens, so every call fails UNAVAILABLE. */
export function deadAddress(): string {
  return `localhost:${freePort()}`;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  const idp = await startTestIdp();
  const logs: string[] = [];
  const logger = createLogger({ service: "gateway", level: "debug", write: (line) => logs.push(line) });
  const metrics = new MetricsRegistry();
  const deadlineMs = options.deadlineMs ?? 5_000;
  const accounts = grpcAccounts({
    address: options.accountAddr ?? deadAddress(),
    credentials: credentials.createInsecure(),
    deadlineMs,
  });
  const payments = grpcPayments({
    address: options.paymentAddr ?? deadAddress(),
    credentials: credentials.createInsecure(),
    deadlineMs,
  });
  const verifier = createJwtVerifier({
    keys: remoteKeySource(idp.jwksUrl, { timeoutMs: 2_000 }),
    issuer: idp.issuer,
    audience: idp.audience,
    clockToleranceSeconds: 5,
  });
  const app = createApp({ accounts: accounts.port, payments: payments.port, verifier, logger, metrics });

  return {
    app,
    idp,
    metrics,
    logs,
    token: (sub, ...roles) => idp.sign({ sub, roles: roles.length > 0 ? roles : undefined }),
    async call(method, path, o = {}) {
      const headers = new Headers(o.headers);
      if (o.token !== undefined) headers.set("authorization", `Bearer ${o.token}`);
      if (o.idempotencyKey !== undefined) headers.set("idempotency-key", o.idempotencyKey);
      let body = o.body;
      if (o.json !== undefined) {
        body = JSON.stringify(o.json);
        if (!headers.has("content-type")) headers.set("content-type", "application/json");
      }
      const response = await app.request(path, { method, headers, body });
      const text = await response.text();
      let parsed: unknown = undefined;
      try {
        parsed = text === "" ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
    [Symbol.asyncDispose]: async () => {
      accounts.close();
      payments.close();
      await idp[Symbol.asyncDispose]();
    },
  };
}
