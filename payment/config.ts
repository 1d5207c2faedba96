/**
 * The payment service's configuration, read once from the environment with
 * every problem reported at once.
 */

import { envReader, LOG_LEVELS, type LogLevel } from "@securepay/shared";

export interface PaymentConfig {
  readonly grpc: { readonly host: string; readonly port: number };
  readonly admin: { readonly host: string; readonly port: number };
  readonly database: {
    readonly url: string;
    readonly poolMax: number;
    readonly preparedStatements: boolean;
  };
  /** `host:port` of AccountService; a host name, never an IP literal once TLS is on. */
  readonly accountServiceAddr: string;
  /** Deadline of every outgoing gRPC call. */
  readonly grpcDeadlineMs: number;
  readonly shutdownTimeoutMs: number;
  readonly logLevel: LogLevel;
  /** Idempotency keys live here when set; otherwise in this process (dev only). */
  readonly redisUrl: string | undefined;
  readonly idempotency: {
    /** How long a response is kept under its key: at least 24 h (DESIGN.md §7). */
    readonly ttlMs: number;
    /** How long a running request holds its key; a crashed one frees it after this. */
    readonly lockTtlMs: number;
    /** Longest wait for one Redis command. */
    readonly redisTimeoutMs: number;
    /** Prepended to every Redis key, so that several deployments (or test runs) can share one Redis. */
    readonly redisKeyPrefix: string;
  };
  /** Kafka seeds; unset runs without the outbox relay and the outcome consumer. */
  readonly kafka: {
    readonly brokers: readonly string[];
    /** Outbox rows published per batch at most. */
    readonly relayBatchMax: number;
    /** Outbox polling interval when no NOTIFY arrives. */
    readonly relayPollMs: number;
    /** How long the group waits for a silent member before giving its partitions to another. */
    readonly sessionTimeoutMs: number;
  } | undefined;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export const PAYMENT_DEFAULTS = {
  grpcPort: 8081,
  adminPort: 9181,
  accountServiceAddr: "localhost:50051",
} as const;

/** Parses the environment; throws ConfigError listing every bad variable. */
export function parsePaymentConfig(env: Record<string, string | undefined>): PaymentConfig {
  const read = envReader(env);
  const config: PaymentConfig = {
    grpc: { host: read.string("GRPC_HOST", "127.0.0.1"), port: read.port("GRPC_PORT", PAYMENT_DEFAULTS.grpcPort) },
    admin: { host: read.string("ADMIN_HOST", "0.0.0.0"), port: read.port("ADMIN_PORT", PAYMENT_DEFAULTS.adminPort) },
    database: {
      url: read.url("DATABASE_URL", { protocols: ["postgres", "postgresql"] }),
      poolMax: read.int("DATABASE_POOL_MAX", 10, { min: 1, max: 100 }),
      preparedStatements: read.bool("DATABASE_PREPARED_STATEMENTS", true),
    },
    accountServiceAddr: read.address("ACCOUNT_SERVICE_ADDR", PAYMENT_DEFAULTS.accountServiceAddr),
    grpcDeadlineMs: read.int("GRPC_DEADLINE_MS", 5_000, { min: 100, max: 60_000 }),
    shutdownTimeoutMs: read.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 100, max: 120_000 }),
    logLevel: read.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    redisUrl: read.optionalUrl("REDIS_URL", { protocols: ["redis", "rediss"] }),
    idempotency: {
      ttlMs: read.int("IDEMPOTENCY_TTL_MS", DAY_MS, { min: DAY_MS, max: 30 * DAY_MS }),
      lockTtlMs: read.int("IDEMPOTENCY_LOCK_TTL_MS", 30_000, { min: 1_000, max: 600_000 }),
      redisTimeoutMs: read.int("REDIS_TIMEOUT_MS", 1_000, { min: 50, max: 30_000 }),
      redisKeyPrefix: read.string("IDEMPOTENCY_KEY_PREFIX", "securepay:idem:"),
    },
    kafka: undefined,
  };
  const brokers = read.list("KAFKA_BROKERS", []);
  const relayBatchMax = read.int("OUTBOX_BATCH_MAX", 500, { min: 1, max: 10_000 });
  const relayPollMs = read.int("OUTBOX_POLL_MS", 250, { min: 10, max: 60_000 });
  const sessionTimeoutMs = read.int("KAFKA_SESSION_TIMEOUT_MS", 30_000, { min: 6_000, max: 300_000 });
  read.done();
  if (brokers.length > 0) return { ...config, kafka: { brokers, relayBatchMax, relayPollMs, sessionTimeoutMs } };
  return config;
}
