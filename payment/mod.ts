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
  type Logger,
  MetricsRegistry,
  migrate,
  readMigrations,
  serveAdmin,
  serveGrpc,
  ShutdownStack,
} from "@securepay/shared";
import type { PaymentConfig } from "./config.ts";
import { createPaymentService } from "./domain/service.ts";
import { createAccountClient } from "./grpc/account_client.ts";
import { paymentServiceBinding } from "./grpc/payment_handlers.ts";
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
}

export interface PaymentServiceHandle extends AsyncDisposable {
  readonly grpcPort: number;
  readonly adminPort: number;
  readonly metrics: MetricsRegistry;
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
    const payments = createPaymentService({ store: postgresPaymentStore(db.sql), accounts });
    const grpc = stack.use(
      "grpc",
      await serveGrpc({
        host: config.grpc.host,
        port: config.grpc.port,
        credentials: options.serverCredentials ?? ServerCredentials.createInsecure(),
        services: [paymentServiceBinding(payments, { logger, metrics })],
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
      checks: [
        { name: "database", check: () => db.ping() },
        { name: "account-service", check: () => accounts.checkHealth() },
      ],
    });
    const adminServer = admin;

    let disposed: Promise<void> | undefined;
    return {
      grpcPort: grpc.port,
      adminPort: adminServer.port,
      metrics,
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
