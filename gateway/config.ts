/** Configuration of the gateway program, from the environment only. */

import { type Env, envReader, LOG_LEVELS, type LogLevel } from "@securepay/shared";

export interface GatewayConfig {
  readonly host: string;
  readonly port: number;
  readonly adminHost: string;
  readonly adminPort: number;
  readonly logLevel: LogLevel;
  readonly auth: {
    readonly jwksUrl: string;
    readonly issuer: string;
    readonly audience: string;
    /** Leeway for `exp` and `nbf`, for clocks that differ a little. */
    readonly clockToleranceSeconds: number;
    /** Bound on one fetch of the JWKS. */
    readonly jwksTimeoutMs: number;
  };
  readonly paymentServiceAddr: string;
  readonly accountServiceAddr: string;
  readonly grpcDeadlineMs: number;
  readonly shutdownTimeoutMs: number;
}

/** Parses the environment, reporting every bad variable at once. */
export function parseGatewayConfig(env: Env): GatewayConfig {
  const r = envReader(env);
  const config: GatewayConfig = {
    host: r.string("HOST", "0.0.0.0"),
    port: r.port("PORT", 8080),
    adminHost: r.string("ADMIN_HOST", "0.0.0.0"),
    adminPort: r.port("ADMIN_PORT", 9180),
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    auth: {
      // No default: a gateway that trusts an issuer nobody configured must not start.
      jwksUrl: r.url("AUTH_JWKS_URL", { protocols: ["http", "https"] }),
      issuer: r.string("AUTH_ISSUER"),
      audience: r.string("AUTH_AUDIENCE", "securepay-api"),
      clockToleranceSeconds: r.int("AUTH_CLOCK_TOLERANCE_SECONDS", 5, { min: 0, max: 300 }),
      jwksTimeoutMs: r.int("AUTH_JWKS_TIMEOUT_MS", 3_000, { min: 100, max: 60_000 }),
    },
    paymentServiceAddr: r.address("PAYMENT_SERVICE_ADDR", "localhost:8081"),
    accountServiceAddr: r.address("ACCOUNT_SERVICE_ADDR", "localhost:50051"),
    grpcDeadlineMs: r.int("GRPC_DEADLINE_MS", 5_000, { min: 10, max: 120_000 }),
    shutdownTimeoutMs: r.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 100, max: 120_000 }),
  };
  // Keys fetched over plain HTTP could be swapped on the way, and with them
  // every token: plain HTTP is for an IdP on this machine only (devstack).
  if (config.auth.jwksUrl.startsWith("http:") && !isLoopbackUrl(config.auth.jwksUrl)) {
    r.problem("AUTH_JWKS_URL must use https unless the identity provider is on the loopback");
  }
  r.done();
  return config;
}

function isLoopbackUrl(value: string): boolean {
  try {
    return ["127.0.0.1", "localhost", "[::1]"].includes(new URL(value).hostname);
  } catch {
    return false;
  }
}
