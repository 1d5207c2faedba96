/**
 * @module
 * The payment service: accepts payments (validation, idempotency, funds
 * check, the PENDING row and its payment.initiated outbox event in one
 * transaction) and reads them back, over gRPC.
 */

import { type ChannelCredentials, credentials as grpcCredentials, ServerCredentials } from "@grpc/grpc-js";
import {
  type AdminServer,
  connectPostgres,
  CONSUMER_GROUPS,
  type Logger,
  MetricsRegistry,
  migrate,
  readMigrations,
  serveAdmin,
  serveGrpc,
  ShutdownStack,
} from "@securepay/shared";
import { type IdempotencyStore, memoryIdempotencyStore, redisIdempotencyStore } from "@securepay/shared/idempotency";
import { connectKafka, type EventConsumer } from "@securepay/shared/kafka";
import { startOutboxRelay } from "@securepay/shared/outbox";
import type { PaymentConfig } from "./config.ts";
import { idempotentRunner } from "./domain/idempotent.ts";
import { OUTCOME_TOPICS } from "./domain/outcomes.ts";
import { createPaymentService } from "./domain/service.ts";
import { createAccountClient } from "./grpc/account_client.ts";
import { paymentServiceBinding } from "./grpc/payment_handlers.ts";
import { outcomeHandler } from "./kafka/outcome_handler.ts";
import { postgresPaymentStore } from "./store/postgres_payment_store.ts";

export { parsePaymentConfig, PAYMENT_DEFAULTS, type PaymentConfig } from "./config.ts";
export type { Payment, PaymentStatus } from "./domain/payment.ts";

export const PAYMENT_SCHEMA = "payments";

export interface PaymentServiceOptions {
  readonly logger: Logger;
  /** Insecure until mTLS lands. */
  readonly serverCredentials?: ServerCredentials;
  /** Credentials for dialing AccountService; insecure until mTLS lands. */
  readonly accountCredentials?: ChannelCredentials;
  readonly metrics?: MetricsRegistry;
  /** Replaces the store chosen from the config (REDIS_URL), for tests. */
  readonly idempotencyStore?: IdempotencyStore;
}

export interface PaymentServiceHandle extends AsyncDisposable {
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly metrics: MetricsRegistry;
  /** Settles with the error that stopped the outcome consumer for good; the program should then exit. */
  readonly fatal: Promise<Error>;
}

/** Migrates the schema, then serves gRPC and the admin endpoints until disposed. */
export async function startPaymentService(
  config: PaymentConfig,
  options: PaymentServiceOptions,
): Promise<PaymentServiceHandle> {
  const logger = options.logger;
  const metrics = options.metrics ?? new MetricsRegistry();
  const stack = new ShutdownStack({
    timeoutMs: config.shutdownTimeoutMs,
    onError: (name, error) => logger.error("shutdown step failed", { step: name, error }),
  });
  // The admin server closes last, so probes see "draining" rather than a refused connection.
  let admin: AdminServer | undefined;
  stack.defer("admin", () => admin?.close());
  try {
    const db = stack.use(
      "database",
      connectPostgres(config.database.url, {
        maxConnections: config.database.poolMax,
        prepare: config.database.preparedStatements,
        applicationName: "payment-service",
      }),
    );
    const migrated = await migrate(
      db.sql,
      PAYMENT_SCHEMA,
      await readMigrations(new URL("./migrations/", import.meta.url)),
    );
    logger.info("schema migrated", { schema: PAYMENT_SCHEMA, applied: migrated.applied, current: migrated.current });

    const accounts = stack.use(
      "account client",
      createAccountClient({
        address: config.accountServiceAddr,
        credentials: options.accountCredentials ?? grpcCredentials.createInsecure(),
        deadlineMs: config.grpcDeadlineMs,
      }),
    );
    const idempotencyStore = stack.use(
      "idempotency store",
      options.idempotencyStore ?? openIdempotencyStore(config, logger),
    );
    const store = postgresPaymentStore(db.sql);
    const payments = createPaymentService({ store, accounts });
    const checks = [
      { name: "database", check: () => db.ping() },
      { name: "account-service", check: () => accounts.checkHealth() },
    ];
    if (config.redisUrl) checks.push({ name: "redis", check: () => idempotencyStore.ping() });

    let reportFatal: (error: Error) => void = () => {};
    const fatal = new Promise<Error>((resolve) => reportFatal = resolve);
    if (config.kafka) {
      const kafka = connectKafka({
        brokers: config.kafka.brokers,
        clientId: "payment-service",
        logger,
        metrics,
        sessionTimeoutMs: config.kafka.sessionTimeoutMs,
      });
      const producer = stack.use("kafka producer", await kafka.producer());
      const relay = stack.use(
        "outbox relay",
        await startOutboxRelay({
          sql: db.sql,
          schema: PAYMENT_SCHEMA,
          producer,
          logger,
          metrics,
          batchMax: config.kafka.relayBatchMax,
          pollMs: config.kafka.relayPollMs,
        }),
      );
      let consumerReady = false;
      let consumerStopped: Error | undefined;
      const consumer: EventConsumer = stack.use(
        "outcome consumer",
        kafka.consumer({
          groupId: CONSUMER_GROUPS.payment,
          topics: OUTCOME_TOPICS,
          handler: outcomeHandler(store, { logger, metrics }),
          fromBeginning: true,
          onFatal: (error) => {
            consumerStopped = error;
            logger.error("outcome consumer stopped", { error });
            reportFatal(error);
          },
        }),
      );
      consumer.ready.then(() => consumerReady = true, (error) => {
        consumerStopped = error instanceof Error ? error : new Error(String(error));
        reportFatal(consumerStopped);
      });
      checks.push(
        { name: "outbox-relay", check: async () => void await relay.lag() },
        {
          name: "outcome-consumer",
          check: () => {
            if (consumerStopped) return Promise.reject(new Error("the outcome consumer stopped"));
            if (!consumerReady) return Promise.reject(new Error("the outcome consumer has not joined its group"));
            return Promise.resolve();
          },
        },
      );
      logger.info("kafka enabled", { brokers: config.kafka.brokers.join(","), group: CONSUMER_GROUPS.payment });
    } else {
      logger.warn("KAFKA_BROKERS is not set: payments stay PENDING, as no relay or consumer runs");
    }
    const grpc = stack.use(
      "grpc",
      await serveGrpc({
        host: config.grpc.host,
        port: config.grpc.port,
        credentials: options.serverCredentials ?? ServerCredentials.createInsecure(),
        services: [
          paymentServiceBinding(payments, {
            idempotency: idempotentRunner(idempotencyStore, { logger, metrics }),
            logger,
            metrics,
          }),
        ],
        logger,
        healthNames: ["securepay.payment.v1.PaymentService"],
        drainMs: Math.min(5_000, Math.floor(config.shutdownTimeoutMs / 2)),
      }),
    );
    admin = serveAdmin({
      host: config.admin.host,
      port: config.admin.port,
      logger,
      metrics,
      checks,
    });
    const adminServer = admin;

    let disposed: Promise<void> | undefined;
    return {
      grpcPort: grpc.port,
      adminPort: adminServer.port,
      metrics,
      fatal,
      [Symbol.asyncDispose]: () => {
        disposed ??= (async () => {
          logger.info("shutting down");
          adminServer.drain();
          grpc.setServing(false);
          await stack[Symbol.asyncDispose]();
          logger.info("stopped");
        })();
        return disposed;
      },
    };
  } catch (error) {
    await stack[Symbol.asyncDispose]();
    throw error;
  }
}

function openIdempotencyStore(config: PaymentConfig, logger: Logger): IdempotencyStore {
  const { ttlMs, lockTtlMs, redisTimeoutMs, redisKeyPrefix } = config.idempotency;
  if (config.redisUrl) {
    logger.info("idempotency keys in Redis", { ttl_ms: ttlMs, lock_ttl_ms: lockTtlMs });
    return redisIdempotencyStore({
      url: config.redisUrl,
      keyPrefix: redisKeyPrefix,
      ttlMs,
      lockTtlMs,
      commandTimeoutMs: redisTimeoutMs,
      logger,
    });
  }
  // One process's memory: right for the embedded dev mode, not for several replicas.
  logger.warn("REDIS_URL is not set: idempotency keys are kept in this process only", { ttl_ms: ttlMs });
  return memoryIdempotencyStore({ ttlMs, lockTtlMs });
}
