/**
 * @module
 * The notification program: consumes payment outcomes (group
 * `notification-service-group`) and sends each account owner one notice per
 * event, through the log or SMTP, never twice for one event. It calls no
 * other service: the events carry the owners. `startNotificationService`
 * composes it so that tests and `main.ts` build the same graph.
 */

import {
  connectPostgres,
  CONSUMER_GROUPS,
  type Logger,
  MetricsRegistry,
  migrate,
  type ReadinessCheck,
  readMigrations,
  serveAdmin,
  ShutdownStack,
  type Sql,
} from "@securepay/shared";
import { connectKafka, type KafkaClient } from "@securepay/shared/kafka";
import type { NotificationConfig } from "./config.ts";
import { type NotificationSender, NOTIFIED_TOPICS } from "./domain/notification.ts";
import { notificationHandler } from "./kafka/handler.ts";
import { createNotifier } from "./notifier.ts";
import { logSender } from "./senders/log_sender.ts";
import { smtpSender } from "./senders/smtp_sender.ts";
import { postgresDeliveryStore } from "./store/deliveries.ts";

export { type NotificationConfig, parseNotificationConfig, type SmtpConfig } from "./config.ts";
export * from "./domain/notification.ts";
export { renderNotifications } from "./domain/templates.ts";
export { formatAmount } from "./domain/money_format.ts";
export { postgresDeliveryStore } from "./store/deliveries.ts";

/** The database schema this service owns and migrates. */
export const NOTIFICATION_SCHEMA = "notifications";

export interface NotificationService extends AsyncDisposable {
  readonly adminPort: number;
  /** Resolves once the consumer joined its group; undefined without KAFKA_BROKERS. */
  readonly consumerReady: Promise<void> | undefined;
}

export interface StartNotificationServiceOptions {
  readonly logger: Logger;
  /** Replaces the sender chosen from the configuration (tests). */
  readonly sender?: NotificationSender;
  /** Called once if the consumer stops for good; the program should exit so its replacement resumes. */
  readonly onFatal?: (error: Error) => void;
  /** Options of the consumer that tests tune. */
  readonly consumer?: { readonly retriesMax?: number; readonly fromBeginning?: boolean };
  /** Settings of the Kafka client that tests tune. */
  readonly kafka?: { readonly handlerBackoffMs?: number };
}

/** Applies the migrations of the `notifications` schema to the database at `sql`. */
export async function migrateNotifications(sql: Sql) {
  return await migrate(sql, NOTIFICATION_SCHEMA, await readMigrations(new URL("./migrations/", import.meta.url)));
}

/**
 * Connects to PostgreSQL, migrates, serves the admin port and, with
 * brokers configured, starts the consumer. Disposing drains readiness,
 * stops the consumer (the batch in hand finishes first), then closes the
 * database and the admin port, within the configured bound.
 */
export async function startNotificationService(
  config: NotificationConfig,
  options: StartNotificationServiceOptions,
): Promise<NotificationService> {
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
        applicationName: "securepay-notification",
      }),
    );
    const migrations = await migrateNotifications(db.sql);
    logger.info("migrations applied", {
      schema: NOTIFICATION_SCHEMA,
      applied: migrations.applied,
      current: migrations.current,
    });

    const metrics = new MetricsRegistry();
    metrics.gauge("securepay_up", "1 while the program runs").set(1, { service: "notification" });
    const sender = options.sender ?? chooseSender(config, logger);
    const checks: ReadinessCheck[] = [{ name: "database", check: () => db.ping() }];

    let consumerReady: Promise<void> | undefined;
    if (config.kafkaBrokers === undefined) {
      logger.warn("KAFKA_BROKERS is not set: no events are consumed, only the admin endpoints run");
    } else {
      const kafka: KafkaClient = connectKafka({
        brokers: config.kafkaBrokers,
        clientId: "notification-service",
        logger,
        metrics,
        logLevel: config.logLevel === "debug" ? "info" : "warn",
        sessionTimeoutMs: config.kafkaSessionTimeoutMs,
        heartbeatIntervalMs: Math.min(3_000, Math.floor(config.kafkaSessionTimeoutMs / 3)),
        ...options.kafka,
      });
      const notifier = createNotifier({ store: postgresDeliveryStore(db.sql), sender, logger, metrics });
      const consumer = stack.use(
        "consumer",
        kafka.consumer({
          groupId: CONSUMER_GROUPS.notification,
          topics: NOTIFIED_TOPICS,
          handler: notificationHandler(notifier, { logger, metrics }),
          // A new group starts at the beginning: events published before the first start still get their notices.
          fromBeginning: options.consumer?.fromBeginning ?? true,
          retriesMax: options.consumer?.retriesMax,
          onFatal: options.onFatal,
        }),
      );
      let joined = false;
      consumerReady = consumer.ready.then(() => {
        joined = true;
        logger.info("consumer joined", { group: CONSUMER_GROUPS.notification, topics: NOTIFIED_TOPICS });
      });
      consumerReady.catch(() => {});
      checks.push({
        name: "kafka",
        check: () => joined ? Promise.resolve() : Promise.reject(new Error("the consumer has not joined its group")),
      });
    }

    const admin = stack.use(
      "admin",
      serveAdmin({ host: config.adminHost, port: config.adminPort, logger, metrics, checks }),
    );
    logger.info("notification channel", { channel: sender.channel, smtp: config.smtp?.url });
    return {
      adminPort: admin.port,
      consumerReady,
      [Symbol.asyncDispose]: async () => {
        admin.drain();
        await stack[Symbol.asyncDispose]();
      },
    };
  } catch (error) {
    await stack[Symbol.asyncDispose]();
    throw error;
  }
}

function chooseSender(config: NotificationConfig, logger: Logger): NotificationSender {
  if (!config.smtp) return logSender(logger);
  return smtpSender({
    hostname: config.smtp.hostname,
    port: config.smtp.port,
    from: config.smtp.from,
    addressTemplate: config.smtp.addressTemplate,
    timeoutMs: config.smtp.timeoutMs,
    heloName: heloName(),
  });
}

function heloName(): string {
  try {
    const name = Deno.hostname();
    return /^[A-Za-z0-9.-]{1,253}$/.test(name) ? name : "localhost";
  } catch {
    return "localhost";
  }
}
