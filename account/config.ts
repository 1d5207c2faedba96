/** Configuration of the account program, from the environment only. */

import { type Env, envReader, LOG_LEVELS, type LogLevel } from "@securepay/shared";

export interface AccountConfig {
  readonly grpcHost: string;
  readonly grpcPort: number;
  readonly adminHost: string;
  readonly adminPort: number;
  readonly databaseUrl: string;
  readonly databasePoolMax: number;
  /** Off for poolers and the embedded dev server, which multiplex one session. */
  readonly databasePreparedStatements: boolean;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
}

/** Parses the environment, reporting every bad variable at once. */
export function parseAccountConfig(env: Env): AccountConfig {
  const r = envReader(env);
  const config: AccountConfig = {
    grpcHost: r.string("GRPC_HOST", "127.0.0.1"),
    grpcPort: r.port("GRPC_PORT", 50051),
    adminHost: r.string("ADMIN_HOST", "0.0.0.0"),
    adminPort: r.port("ADMIN_PORT", 9182),
    databaseUrl: r.url("DATABASE_URL", { protocols: ["postgres", "postgresql"] }),
    databasePoolMax: r.int("DATABASE_POOL_MAX", 10, { min: 1, max: 100 }),
    databasePreparedStatements: r.bool("DATABASE_PREPARED_STATEMENTS", true),
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    shutdownTimeoutMs: r.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 100, max: 120_000 }),
  };
  r.done();
  return config;
}
