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
  type ReadinessCheck,
  readMigrations,
  serveAdmin,
  serveGrpc,
  ShutdownStack,
} from "@securepay/shared";
import { connectKafka } from "@securepay/shared/kafka";
import { startOutboxRelay } from "@securepay/shared/outbox";
import { type BalanceCache, memoryBalanceCache, readAsideCache, redisBalanceCache } from "./cache/mod.ts";
import type { AccountConfig } from "./config.ts";
import { accountServiceBinding } from "./grpc/handlers.ts";
import { APPLY_GROUP, APPLY_TOPIC_NAMES, applyPaymentsHandler } from "./kafka/apply_consumer.ts";
import { postgresAccountStore } from "./store/postgres_store.ts";

export { type AccountConfig, type AccountKafkaConfig, parseAccountConfig } from "./config.ts";
export type * from "./domain/account.ts";
export type * from "./domain/apply.ts";
export { postgresAccountStore } from "./store/postgres_store.ts";
export { applyEvents, type ApplyResult } from "./store/apply_events.ts";
export * from "./cache/mod.ts";
export { APPLY_GROUP, APPLY_TOPIC_NAMES, applyPaymentsHandler, PoisonRecordsError } from "./kafka/apply_consumer.ts";

/** The database schema this service owns and migrates. */
export const ACCOUNT_SCHEMA = "accounts";

export interface AccountServiceHandle extends AsyncDisposable {
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly metrics: MetricsRegistry;
  /** Settles with the error that stopped the payment consumer for good; the program should then exit. */
  readonly fatal: Promise<Error>;
}

export interface StartAccountServiceOptions {
  readonly logger: Logger;
  /** Insecure unless given: mutual TLS arrives with the zero-trust work. */
  readonly credentials?: ServerCredentials;
  readonly metrics?: MetricsRegistry;
  /** Replaces the cache chosen from the config (REDIS_URL), for tests. */
  readonly balanceCache?: BalanceCache;
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

    const metrics = options.metrics ?? new MetricsRegistry();
    metrics.gauge("securepay_up", "1 while the program runs").set(1, { service: "account" });
    const cache = readAsideCache(stack.use("balance cache", options.balanceCache ?? openBalanceCache(config, logger)), {
      logger,
      metrics,
    });
    const checks: ReadinessCheck[] = [{ name: "database", check: () => db.ping() }];

    let reportFatal: (error: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => reportFatal = resolve);
    if (config.kafka) {
      const kafka = connectKafka({
        brokers: config.kafka.brokers,
        clientId: config.kafka.clientId,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
        logger,
        metrics,
      });
      const producer = stack.use("kafka producer", await kafka.producer());
      const relay = stack.use(
        "outbox relay",
        await startOutboxRelay({
          sql: db.sql,
          schema: ACCOUNT_SCHEMA,
          producer,
          logger,
          metrics,
          batchMax: config.kafka.relayBatchMax,
          pollMs: config.kafka.relayPollMs,
        }),
      );
      let joined = false;
      let stopped: Error | undefined;
      const stop = (error: Error) => {
        stopped ??= error;
        logger.error("payment consumer stopped; no payment is applied until a restart", { error });
        reportFatal(error);
      };
      const consumer = stack.use(
        "payment consumer",
        kafka.consumer({
          groupId: APPLY_GROUP,
          topics: APPLY_TOPIC_NAMES,
          handler: applyPaymentsHandler({ sql: db.sql, logger, metrics, invalidate: cache.invalidate }),
          fromBeginning: true,
          batchRecordsMax: config.kafka.batchMax,
          partitionsConcurrently: config.kafka.partitionsConcurrently,
          retriesMax: config.kafka.retriesMax,
          onFatal: stop,
        }),
      );
      consumer.ready.then(
        () => joined = true,
        (error) => stop(error instanceof Error ? error : new Error(String(error))),
      );
      checks.push(
        { name: "outbox-relay", check: async () => void await relay.lag() },
        {
          name: "payment-consumer",
          check: () => {
            if (stopped) return Promise.reject(new Error("the payment consumer stopped"));
            if (!joined) return Promise.reject(new Error("the payment consumer has not joined its group"));
            return Promise.resolve();
          },
        },
      );
      logger.info("kafka enabled", { brokers: config.kafka.brokers.join(","), group: APPLY_GROUP });
    } else {
      logger.warn("KAFKA_BROKERS is not set: payments are not applied, as no consumer or outbox relay runs");
    }

    const admin = stack.use(
      "admin",
      serveAdmin({ host: config.adminHost, port: config.adminPort, logger, metrics, checks }),
    );
    const grpc = stack.use(
      "grpc",
      await serveGrpc({
        host: config.grpcHost,
        port: config.grpcPort,
        credentials: options.credentials ?? ServerCredentials.createInsecure(),
        services: [accountServiceBinding({ store: cache.store(postgresAccountStore(db.sql)), logger, metrics })],
        logger,
        healthNames: ["securepay.account.v1.AccountService"],
        drainMs: Math.max(100, Math.floor(config.shutdownTimeoutMs / 2)),
      }),
    );
    return {
      grpcPort: grpc.port,
      adminPort: admin.port,
      metrics,
      fatal,
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

/** Redis when REDIS_URL is set; else a cache in this process, right for one dev replica only. */
function openBalanceCache(config: AccountConfig, logger: Logger): BalanceCache {
  const { keyPrefix, ttlMs, redisTimeoutMs, entriesMax } = config.balanceCache;
  if (config.redisUrl) {
    return redisBalanceCache({ url: config.redisUrl, keyPrefix, ttlMs, commandTimeoutMs: redisTimeoutMs, logger });
  }
  logger.warn("REDIS_URL is not set: balances are cached in this process, which suits one replica only");
  return memoryBalanceCache({ ttlMs, entriesMax });
}
