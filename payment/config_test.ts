import assert from "node:assert/strict";
import { ConfigError } from "@securepay/shared";
import { parsePaymentConfig } from "./config.ts";

Deno.test("parsePaymentConfig() applies the documented defaults", () => {
  const config = parsePaymentConfig({ DATABASE_URL: "postgres://u@localhost:5432/db" });
  assert.deepEqual(config.grpc, { host: "127.0.0.1", port: 8081 });
  assert.deepEqual(config.admin, { host: "0.0.0.0", port: 9181 });
  assert.equal(config.accountServiceAddr, "localhost:50051");
  assert.equal(config.grpcDeadlineMs, 5_000);
  assert.equal(config.shutdownTimeoutMs, 10_000);
  assert.deepEqual(config.database, { url: "postgres://u@localhost:5432/db", poolMax: 10, preparedStatements: true });
  assert.equal(config.logLevel, "info");
});

Deno.test("parsePaymentConfig() reports every bad variable at once", () => {
  let error: ConfigError | undefined;
  try {
    parsePaymentConfig({
      GRPC_PORT: "eighty",
      ADMIN_PORT: "70000",
      ACCOUNT_SERVICE_ADDR: "no-port",
      GRPC_DEADLINE_MS: "0",
      DATABASE_PREPARED_STATEMENTS: "maybe",
      LOG_LEVEL: "loud",
    });
  } catch (e) {
    if (e instanceof ConfigError) error = e;
  }
  assert.ok(error, "a ConfigError");
  const named = ["GRPC_PORT", "ADMIN_PORT", "ACCOUNT_SERVICE_ADDR", "GRPC_DEADLINE_MS", "DATABASE_PREPARED_STATEMENTS"]
    .concat(["LOG_LEVEL", "DATABASE_URL"]);
  for (const name of named) assert.ok(error.problems.some((p) => p.startsWith(name)), name);
  assert.equal(error.problems.length, named.length);
});

Deno.test("parsePaymentConfig() reads Redis, idempotency TTLs and Kafka, refusing a TTL under 24 h", () => {
  const base = { DATABASE_URL: "postgres://u@localhost:5432/db" };
  const dev = parsePaymentConfig(base);
  assert.equal(dev.redisUrl, undefined);
  assert.equal(dev.kafka, undefined);
  assert.deepEqual(dev.idempotency, {
    ttlMs: 86_400_000,
    lockTtlMs: 30_000,
    redisTimeoutMs: 1_000,
    redisKeyPrefix: "securepay:idem:",
  });
  const real = parsePaymentConfig({
    ...base,
    REDIS_URL: "redis://127.0.0.1:6379",
    KAFKA_BROKERS: "k1:9092, k2:9092",
    OUTBOX_POLL_MS: "100",
    KAFKA_SESSION_TIMEOUT_MS: "6000",
  });
  assert.equal(real.redisUrl, "redis://127.0.0.1:6379");
  assert.deepEqual(real.kafka, {
    brokers: ["k1:9092", "k2:9092"],
    relayBatchMax: 500,
    relayPollMs: 100,
    sessionTimeoutMs: 6_000,
  });
  assert.throws(
    () => parsePaymentConfig({ ...base, IDEMPOTENCY_TTL_MS: "3600000", REDIS_URL: "http://x" }),
    (e) => e instanceof ConfigError && e.problems.length === 2,
  );
});
