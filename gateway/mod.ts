/**
 * @module
 * The gateway: the public HTTP API of DESIGN.md §5 in front of the account
 * and payment services. `createApp` builds the HTTP application from ports;
 * `startGateway` wires it to gRPC clients, the JWKS and sockets.
 */

import { type ChannelCredentials, credentials as grpcCredentials } from "@grpc/grpc-js";
import { type Logger, MetricsRegistry, serveAdmin, ShutdownStack } from "@securepay/shared";
import type { OpenAPIHono } from "@hono/zod-openapi";
import { createApp } from "./app.ts";
import { createJwtVerifier, remoteKeySource, type TokenVerifier } from "./auth/jwt_verifier.ts";
import type { GatewayConfig } from "./config.ts";
import { grpcAccounts, grpcPayments } from "./grpc/clients.ts";
import type { GatewayEnv } from "./http/context.ts";

export { type AppOptions, createApp } from "./app.ts";
export { type GatewayConfig, parseGatewayConfig } from "./config.ts";
export {
  createJwtVerifier,
  type KeySource,
  localKeySource,
  remoteKeySource,
  type TokenVerifier,
} from "./auth/jwt_verifier.ts";
export type { AccountsPort, CallContext, Page, PaymentsPort } from "./domain/ports.ts";
export { type Downstream, grpcAccounts, type GrpcClientOptions, grpcPayments } from "./grpc/clients.ts";

export interface Gateway extends AsyncDisposable {
  readonly port: number;
  readonly adminPort: number;
  readonly app: OpenAPIHono<GatewayEnv>;
}

export interface StartGatewayOptions {
  logger: Logger;
  /** Credentials for dialing payment, expecting its SVID; insecure when unset (tests). */
  paymentCredentials?: ChannelCredentials;
  /** Credentials for dialing account, expecting its SVID; insecure when unset (tests). */
  accountCredentials?: ChannelCredentials;
  /** Replaces the JWKS verifier built from the configuration. */
  verifier?: TokenVerifier;
}

export function startGateway(config: GatewayConfig, options: StartGatewayOptions): Gateway {
  const { logger } = options;
  const stack = new ShutdownStack({
    timeoutMs: config.shutdownTimeoutMs,
    onError: (name, error) => logger.error("shutdown step failed", { step: name, error }),
  });
  const metrics = new MetricsRegistry();
  metrics.gauge("securepay_up", "1 while the program runs").set(1, { service: "gateway" });

  try {
    const accounts = stack.use(
      "account client",
      grpcAccounts({
        address: config.accountServiceAddr,
        credentials: options.accountCredentials ?? grpcCredentials.createInsecure(),
        deadlineMs: config.grpcDeadlineMs,
      }),
    );
    const payments = stack.use(
      "payment client",
      grpcPayments({
        address: config.paymentServiceAddr,
        credentials: options.paymentCredentials ?? grpcCredentials.createInsecure(),
        deadlineMs: config.grpcDeadlineMs,
      }),
    );
    // Ready when both services behind us answer their health checks.
    const admin = stack.use(
      "admin",
      serveAdmin({
        host: config.adminHost,
        port: config.adminPort,
        logger,
        metrics,
        checks: [
          { name: "account-service", check: () => accounts.checkHealth() },
          { name: "payment-service", check: () => payments.checkHealth() },
        ],
      }),
    );
    const verifier = options.verifier ?? createJwtVerifier({
      keys: remoteKeySource(config.auth.jwksUrl, { timeoutMs: config.auth.jwksTimeoutMs }),
      issuer: config.auth.issuer,
      audience: config.auth.audience,
      clockToleranceSeconds: config.auth.clockToleranceSeconds,
    });
    const app = createApp({ accounts: accounts.port, payments: payments.port, verifier, logger, metrics });
    const server = Deno.serve({ hostname: config.host, port: config.port, onListen: () => {} }, app.fetch);
    stack.defer("http", () => server.shutdown());
    logger.info("http listening", { port: server.addr.port });
    return {
      port: server.addr.port,
      adminPort: admin.port,
      app,
      [Symbol.asyncDispose]: async () => {
        admin.drain();
        await stack[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    void stack[Symbol.asyncDispose]();
    throw error;
  }
}
