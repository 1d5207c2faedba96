/**
 * Committed offsets and admin calls through kafkajs: a group resumes where
 * it committed after its client restarts and after the broker restarts on
 * the same data folder; topics are created, listed, described and deleted.
 */

import assert from "node:assert/strict";
import type { Kafka } from "kafkajs";
import { startKafkaBroker } from "./broker.ts";
import { quietKafka, range, startTestBroker, waitFor } from "./_test_support.ts";

async function consumeOnce(kafka: Kafka, groupId: string, topic: string, expected: number): Promise<string[]> {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100, heartbeatInterval: 200 });
  const values: string[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      values.push(message.value!.toString());
      return Promise.resolve();
    },
  });
  await waitFor(`${expected} records`, () => values.length >= expected);
  // Leave time for a surplus record to show up, which would be a resume bug.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await consumer.disconnect();
  return values;
}

async function produce(kafka: Kafka, topic: string, values: string[]): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, acks: -1, messages: values.map((value) => ({ value })) });
  await producer.disconnect();
}

Deno.test("a group resumes from its committed offsets after a client restart and a broker restart", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "kafka-test-" });
  try {
    let port: number;
    {
      await using broker = await startTestBroker({ dataDir });
      port = broker.port;
      const kafka = broker.kafka();
      await produce(kafka, "ledger", range(5).map((i) => `first-${i}`));
      assert.deepEqual(await consumeOnce(kafka, "resume", "ledger", 5), range(5).map((i) => `first-${i}`));
      await produce(kafka, "ledger", range(3).map((i) => `second-${i}`));
      assert.deepEqual(await consumeOnce(kafka, "resume", "ledger", 3), range(3).map((i) => `second-${i}`));
      await produce(kafka, "ledger", range(2).map((i) => `third-${i}`));
    }
    await using broker = await startKafkaBroker({ port, dataDir, log: () => {} });
    const kafka = quietKafka(broker.address);
    assert.deepEqual(await consumeOnce(kafka, "resume", "ledger", 2), ["third-0", "third-1"]);
    const admin = kafka.admin();
    await admin.connect();
    const committed = await admin.fetchOffsets({ groupId: "resume", topics: ["ledger"] });
    await admin.disconnect();
    assert.equal(committed[0]!.partitions[0]!.offset, "10");
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a new group with fromBeginning false starts at the latest offset", async () => {
  await using broker = await startTestBroker();
  const kafka = broker.kafka();
  await produce(kafka, "latest", ["old-0", "old-1"]);
  const consumer = kafka.consumer({ groupId: "latecomer", maxWaitTimeInMs: 100, heartbeatInterval: 200 });
  const values: string[] = [];
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => joined = true);
  await consumer.connect();
  await consumer.subscribe({ topic: "latest", fromBeginning: false });
  await consumer.run({
    eachMessage: ({ message }) => {
      values.push(message.value!.toString());
      return Promise.resolve();
    },
  });
  await waitFor("the consumer joins", () => joined);
  await new Promise((resolve) => setTimeout(resolve, 300));
  await produce(kafka, "latest", ["new-0"]);
  await waitFor("the new record", () => values.length >= 1);
  await consumer.disconnect();
  assert.deepEqual(values, ["new-0"]);
});

Deno.test("admin creates, lists, describes offsets of and deletes topics as Kafka does", async () => {
  await using broker = await startTestBroker({ defaultPartitions: 2 });
  const kafka = broker.kafka();
  const admin = kafka.admin();
  await admin.connect();
  try {
    assert.equal(await admin.createTopics({ topics: [{ topic: "alpha", numPartitions: 3 }, { topic: "beta" }] }), true);
    assert.equal(await admin.createTopics({ topics: [{ topic: "alpha", numPartitions: 3 }] }), false);
    await assert.rejects(
      admin.createTopics({ topics: [{ topic: "gamma", replicationFactor: 3 }] }),
      (error: { errors?: { type: string }[] }) => error.errors?.[0]?.type === "INVALID_REPLICATION_FACTOR",
    );
    assert.deepEqual((await admin.listTopics()).sort(), ["alpha", "beta"]);
    const metadata = await admin.fetchTopicMetadata({ topics: ["alpha", "beta"] });
    assert.deepEqual(metadata.topics.map((t) => [t.name, t.partitions.length]).sort(), [["alpha", 3], ["beta", 2]]);

    await produce(kafka, "alpha", range(7).map((i) => `v${i}`));
    const offsets = await admin.fetchTopicOffsets("alpha");
    assert.equal(offsets.length, 3);
    assert.equal(offsets.reduce((sum, p) => sum + Number(p.high), 0), 7);
    assert.ok(offsets.every((p) => p.low === "0"));

    await admin.deleteTopics({ topics: ["beta"] });
    assert.deepEqual(await admin.listTopics(), ["alpha"]);
  } finally {
    await admin.disconnect();
  }
});
