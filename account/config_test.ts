import assert from "node:assert/strict";
import { ConfigError } from "@securepay/shared";
import { parseAccountConfig } from "./config.ts";

Deno.test("parseAccountConfig() applies the documented defaults", () => {
  const config = parseAccountConfig({ DATABASE_URL: "postgres://u:p@db:5432/securepay" });
  assert.deepEqual(config, {
    grpcHost: "127.0.0.1",
    grpcPort: 50051,
    adminHost: "0.0.0.0",
    adminPort: 9182,
    databaseUrl: "postgres://u:p@db:5432/securepay",
    databasePoolMax: 10,
    databasePreparedStatements: true,
    logLevel: "info",
    shutdownTimeoutMs: 10_000,
    kafka: undefined,
    redisUrl: undefined,
    balanceCache: { keyPrefix: "securepay:account:balance:", ttlMs: 300_000, redisTimeoutMs: 250, entriesMax: 10_000 },
  });
});

Deno.test("parseAccountConfig() enables Kafka with KAFKA_BROKERS and reads its tuning and the cache's", () => {
  const config = parseAccountConfig({
    DATABASE_URL: "postgres://db/x",
    KAFKA_BROKERS: "kafka-0:9092, kafka-1.internal:9093",
    KAFKA_CLIENT_ID: "account-7",
    KAFKA_BATCH_MAX: "200",
    KAFKA_PARTITIONS_CONCURRENTLY: "6",
    KAFKA_RETRIES_MAX: "5",
    KAFKA_SESSION_TIMEOUT_MS: "6000",
    OUTBOX_BATCH_MAX: "100",
    OUTBOX_POLL_MS: "50",
    REDIS_URL: "redis://cache:6379/2",
    REDIS_KEY_PREFIX: "blue:",
    BALANCE_CACHE_TTL_MS: "60000",
    REDIS_TIMEOUT_MS: "100",
    BALANCE_CACHE_ENTRIES_MAX: "50",
  });
  assert.deepEqual(config.kafka, {
    brokers: ["kafka-0:9092", "kafka-1.internal:9093"],
    clientId: "account-7",
    batchMax: 200,
    partitionsConcurrently: 6,
    retriesMax: 5,
    sessionTimeoutMs: 6000,
    relayBatchMax: 100,
    relayPollMs: 50,
  });
  assert.equal(config.redisUrl, "redis://cache:6379/2");
  assert.deepEqual(config.balanceCache, { keyPrefix: "blue:", ttlMs: 60_000, redisTimeoutMs: 100, entriesMax: 50 });
});

Deno.test("parseAccountConfig() reports bad Kafka and Redis settings together", () => {
  assert.throws(
    () =>
      parseAccountConfig({
        DATABASE_URL: "postgres://db/x",
        KAFKA_BROKERS: "kafka-0",
        KAFKA_BATCH_MAX: "0",
        OUTBOX_POLL_MS: "1",
        REDIS_URL: "http://cache",
        BALANCE_CACHE_TTL_MS: "x",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const names = error.problems.map((p) => p.split(" ")[0]).sort();
      assert.deepEqual(names, [
        "BALANCE_CACHE_TTL_MS",
        "KAFKA_BATCH_MAX",
        "KAFKA_BROKERS",
        "OUTBOX_POLL_MS",
        "REDIS_URL",
      ]);
      return true;
    },
  );
});

Deno.test("parseAccountConfig() reads every knob from the environment", () => {
  const config = parseAccountConfig({
    GRPC_HOST: "0.0.0.0",
    GRPC_PORT: "6000",
    ADMIN_HOST: "127.0.0.1",
    ADMIN_PORT: "6001",
    DATABASE_URL: "postgresql://localhost/x",
    DATABASE_POOL_MAX: "3",
    DATABASE_PREPARED_STATEMENTS: "false",
    LOG_LEVEL: "debug",
    SHUTDOWN_TIMEOUT_MS: "2500",
  });
  assert.equal(config.grpcHost, "0.0.0.0");
  assert.equal(config.grpcPort, 6000);
  assert.equal(config.adminHost, "127.0.0.1");
  assert.equal(config.adminPort, 6001);
  assert.equal(config.databasePoolMax, 3);
  assert.equal(config.databasePreparedStatements, false);
  assert.equal(config.logLevel, "debug");
  assert.equal(config.shutdownTimeoutMs, 2500);
});

Deno.test("parseAccountConfig() reports every bad variable at once", () => {
  assert.throws(
    () =>
      parseAccountConfig({
        GRPC_PORT: "70000",
        ADMIN_PORT: "x",
        DATABASE_URL: "mysql://localhost/x",
        DATABASE_POOL_MAX: "0",
        DATABASE_PREPARED_STATEMENTS: "maybe",
        LOG_LEVEL: "loud",
        SHUTDOWN_TIMEOUT_MS: "soon",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const names = error.problems.map((p) => p.split(" ")[0]);
      assert.deepEqual(names, [
        "GRPC_PORT",
        "ADMIN_PORT",
        "DATABASE_URL",
        "DATABASE_POOL_MAX",
        "DATABASE_PREPARED_STATEMENTS",
        "LOG_LEVEL",
        "SHUTDOWN_TIMEOUT_MS",
      ]);
      return true;
    },
  );
});

Deno.test("parseAccountConfig() requires DATABASE_URL and hides its password in errors", () => {
  assert.throws(() => parseAccountConfig({}), /DATABASE_URL is required/);
  assert.throws(
    () => parseAccountConfig({ DATABASE_URL: "http://user:hunter2@db/x" }),
    (error: Error) => !error.message.includes("hunter2") && /DATABASE_URL must use postgres/.test(error.message),
  );
});
