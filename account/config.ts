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
  /** Kafka seeds and tuning; undefined runs without the payment consumer and the outbox relay. */
  readonly kafka: AccountKafkaConfig | undefined;
  /** The balance cache lives here when set; otherwise in this process (dev, one replica). */
  readonly redisUrl: string | undefined;
  readonly balanceCache: {
    /** Prefix of every Redis key. */
    readonly keyPrefix: string;
    /** How long a cached balance (or an invalidation mark) lives. */
    readonly ttlMs: number;
    /** Bound on each Redis command; a slower Redis counts as a miss. */
    readonly redisTimeoutMs: number;
    /** Entries of the in-process cache at most. */
    readonly entriesMax: number;
  };
}

export interface AccountKafkaConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Records of one partition handed to one apply call (and so one transaction) at most. */
  readonly batchMax: number;
  /** Partitions applied at the same time, each still in order. */
  readonly partitionsConcurrently: number;
  /** Attempts of a failing batch before its records are tried one by one and the bad ones dead-lettered. */
  readonly retriesMax: number;
  /** A consumer that stops heartbeating (crashed) loses its partitions after this. */
  readonly sessionTimeoutMs: number;
  /** Outbox rows published per batch at most. */
  readonly relayBatchMax: number;
  /** Outbox polling interval when no NOTIFY arrives. */
  readonly relayPollMs: number;
}

const BROKER = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/;

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
    kafka: undefined,
    redisUrl: r.optionalUrl("REDIS_URL", { protocols: ["redis", "rediss"] }),
    balanceCache: {
      keyPrefix: r.string("REDIS_KEY_PREFIX", "securepay:account:balance:"),
      ttlMs: r.int("BALANCE_CACHE_TTL_MS", 300_000, { min: 1_000, max: 86_400_000 }),
      redisTimeoutMs: r.int("REDIS_TIMEOUT_MS", 250, { min: 10, max: 30_000 }),
      entriesMax: r.int("BALANCE_CACHE_ENTRIES_MAX", 10_000, { min: 1, max: 10_000_000 }),
    },
  };
  const brokers = r.list("KAFKA_BROKERS", []);
  for (const broker of brokers) {
    if (!BROKER.test(broker)) {
      r.problem(`KAFKA_BROKERS must be a comma-separated list of host:port, got "${broker.slice(0, 64)}"`);
    }
  }
  const kafka: AccountKafkaConfig = {
    brokers,
    clientId: r.string("KAFKA_CLIENT_ID", "account-service"),
    batchMax: r.int("KAFKA_BATCH_MAX", 500, { min: 1, max: 10_000 }),
    partitionsConcurrently: r.int("KAFKA_PARTITIONS_CONCURRENTLY", 3, { min: 1, max: 100 }),
    retriesMax: r.int("KAFKA_RETRIES_MAX", 3, { min: 1, max: 100 }),
    sessionTimeoutMs: r.int("KAFKA_SESSION_TIMEOUT_MS", 30_000, { min: 6_000, max: 300_000 }),
    relayBatchMax: r.int("OUTBOX_BATCH_MAX", 500, { min: 1, max: 10_000 }),
    relayPollMs: r.int("OUTBOX_POLL_MS", 250, { min: 10, max: 60_000 }),
  };
  r.done();
  return brokers.length > 0 ? { ...config, kafka } : config;
}
