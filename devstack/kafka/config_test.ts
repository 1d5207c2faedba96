import assert from "node:assert/strict";
import { parseKafkaConfig } from "./config.ts";

Deno.test("parseKafkaConfig() defaults to 127.0.0.1:9092, .devstack/kafka, one partition and fsync always", () => {
  assert.deepEqual(parseKafkaConfig([], {}), {
    host: "127.0.0.1",
    port: 9092,
    dataDir: ".devstack/kafka",
    defaultPartitions: 1,
    fsync: "always",
  });
});

Deno.test("parseKafkaConfig() reads the environment and lets flags win", () => {
  const config = parseKafkaConfig(["--port", "19092", "--partitions=3"], {
    KAFKA_PORT: "9999",
    KAFKA_DATA_DIR: "/tmp/k",
    KAFKA_FSYNC: "never",
  });
  assert.equal(config.port, 19092);
  assert.equal(config.defaultPartitions, 3);
  assert.equal(config.dataDir, "/tmp/k");
  assert.equal(config.fsync, "never");
});

Deno.test("parseKafkaConfig() reports every invalid flag at once", () => {
  assert.throws(
    () =>
      parseKafkaConfig(["--port", "70000", "--partitions", "zero", "--bogus", "--data-dir"], {
        KAFKA_FSYNC: "sometimes",
      }),
    (error: Error) =>
      error instanceof TypeError && error.message.startsWith("Cannot configure Kafka broker as") &&
      error.message.includes("--port must be an integer in [0, 65535]") && error.message.includes("--partitions") &&
      error.message.includes('unknown argument "--bogus"') && error.message.includes("--data-dir needs a value") &&
      error.message.includes("KAFKA_FSYNC"),
  );
});
