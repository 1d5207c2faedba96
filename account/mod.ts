/**
 * @module
 * The account program: accounts, balances and the double-entry ledger,
 * served over gRPC (AccountService) with an admin HTTP port for health and
 * metrics. `startAccountService` composes it so that tests and `main.ts`
 * build the same graph.
 */

import { ServerCredentials } from "@grpc/grpc-js";
import {
  connectPostgres,
  type Logger,
  MetricsRegistry,
  migrate,
  readMigrations,
  serveAdmin,
  serveGrpc,
  ShutdownStack,
} from "@securepay/shared";
import type { AccountConfig } from "./config.ts";
import { accountServiceBinding } from "./grpc/handlers.ts";
import { postgresAccountStore } from "./store/postgres_store.ts";

export { type AccountConfig, parseAccountConfig } from "./config.ts";
export type * from "./domain/account.ts";
export { postgresAccountStore } from "./store/postgres_store.ts";

/** The database schema this service owns and migrates. */
export const ACCOUNT_SCHEMA = "accounts";

export interface AccountServiceHandle extends AsyncDisposable {
  readonly grpcPort: number;
  readonly adminPort: number;
}

export interface StartAccountServiceOptions {
  readonly logger: Logger;
  /** Insecure unless given: mutual TLS arrives with the zero-trust work. */
  readonly credentials?: ServerCredentials;
}

/** Applies the migrations of the `accounts` schema to the database at `sql`. */
export async function migrateAccounts(sql: Parameters<typeof migrate>[0]) {
  return await migrate(sql, ACCOUNT_SCHEMA, await readMigrations(new URL("./migrations/", import.meta.url)));
}

/**
 * Connects to PostgreSQL, migrates the schema, then serves gRPC and the
 * admin port. Disposing drains readiness, closes gRPC (letting calls in
 * flight finish), then the admin port and the database, within the
 * configured bound.
 */
export async function startAccountService(
  config: AccountConfig,
  options: StartAccountServiceOptions,
): Promise<AccountServiceHandle> {
  const { logger } = options;
  const stack = new ShutdownStack({
    timeoutMs: config.shutdownTimeoutMs,
    onError: (name, error) => logger.error("shutdown step failed", { step: name, error }),
  });
  try {
    const db = stack.use(
      "database",
      connectPostgres(config.databaseUrl, {
        maxConnections: config.databasePoolMax,
        prepare: config.databasePreparedStatements,
        applicationName: "securepay-account",
      }),
    );
    const migrations = await migrateAccounts(db.sql);
    logger.info("migrations applied", {
      schema: ACCOUNT_SCHEMA,
      applied: migrations.applied,
      current: migrations.current,
    });

    const metrics = new MetricsRegistry();
    metrics.gauge("securepay_up", "1 while the program runs").set(1, { service: "account" });
    const admin = stack.use(
      "admin",
      serveAdmin({
        host: config.adminHost,
        port: config.adminPort,
        logger,
        metrics,
        checks: [{ name: "database", check: () => db.ping() }],
      }),
    );
    const grpc = stack.use(
      "grpc",
      await serveGrpc({
        host: config.grpcHost,
        port: config.grpcPort,
        credentials: options.credentials ?? ServerCredentials.createInsecure(),
        services: [accountServiceBinding({ store: postgresAccountStore(db.sql), logger, metrics })],
        logger,
        healthNames: ["securepay.account.v1.AccountService"],
        drainMs: Math.max(100, Math.floor(config.shutdownTimeoutMs / 2)),
      }),
    );
    return {
      grpcPort: grpc.port,
      adminPort: admin.port,
      [Symbol.asyncDispose]: async () => {
        admin.drain();
        grpc.setServing(false);
        await stack[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await stack[Symbol.asyncDispose]();
    throw error;
  }
}
