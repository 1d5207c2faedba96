import assert from "node:assert/strict";
import { CompressionTypes } from "kafkajs";
import { range, startTestBroker, waitFor } from "./_test_support.ts";

Deno.test("a plain kafkajs producer's records come back in order with keys, values and headers", async () => {
  await using broker = await startTestBroker({ defaultPartitions: 1 });
  const kafka = broker.kafka();
  const producer = kafka.producer();
  await producer.connect();
  const sent = await producer.send({
    topic: "plain",
    messages: range(10).map((i) => ({ key: `k${i}`, value: `v${i}`, headers: { h: `x${i}` } })),
  });
  assert.equal(sent[0]!.baseOffset, "0");
  await producer.send({ topic: "plain", messages: [{ key: null, value: "last" }] });
  await producer.disconnect();

  const consumer = kafka.consumer({ groupId: "g-plain", maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: "plain", fromBeginning: true });
  const seen: { offset: string; key: string | null; value: string; header: string | undefined }[] = [];
  await consumer.run({
    eachMessage: ({ message }) => {
      seen.push({
        offset: message.offset,
        key: message.key?.toString() ?? null,
        value: message.value!.toString(),
        header: message.headers?.h?.toString(),
      });
      return Promise.resolve();
    },
  });
  await waitFor("11 records consumed", () => seen.length >= 11);
  await consumer.disconnect();
  assert.deepEqual(seen.slice(0, 3), [
    { offset: "0", key: "k0", value: "v0", header: "x0" },
    { offset: "1", key: "k1", value: "v1", header: "x1" },
    { offset: "2", key: "k2", value: "v2", header: "x2" },
  ]);
  assert.deepEqual(seen[10], { offset: "10", key: null, value: "last", header: undefined });
});

Deno.test("a gzip producer's batches are stored compressed and consumed intact", async () => {
  await using broker = await startTestBroker({ defaultPartitions: 2 });
  const kafka = broker.kafka();
  const producer = kafka.producer();
  await producer.connect();
  const payload = "x".repeat(2000);
  await producer.send({
    topic: "zipped",
    compression: CompressionTypes.GZIP,
    messages: range(50).map((i) => ({ key: `k${i}`, value: `${i}:${payload}` })),
  });
  await producer.disconnect();
  // 50 × 2 KB of repetitive text compresses to almost nothing on disk.
  let stored = 0;
  for await (const entry of Deno.readDir(`${broker.dataDir}/logs`)) {
    stored += (await Deno.stat(`${broker.dataDir}/logs/${entry.name}`)).size;
  }
  assert.ok(stored < 10000, `expected compressed storage, found ${stored} bytes`);

  const consumer = kafka.consumer({ groupId: "g-zip", maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: "zipped", fromBeginning: true });
  const values = new Set<string>();
  await consumer.run({
    eachMessage: ({ message }) => {
      values.add(message.value!.toString());
      return Promise.resolve();
    },
  });
  await waitFor("50 records consumed", () => values.size >= 50);
  await consumer.disconnect();
  for (const i of range(50)) assert.ok(values.has(`${i}:${payload}`));
});

Deno.test("an idempotent producer gets distinct ids, in-order offsets and one copy of each record", async () => {
  await using broker = await startTestBroker({ defaultPartitions: 3 });
  const kafka = broker.kafka();
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (const round of range(5)) {
    await producer.send({ topic: "idem", messages: range(20).map((i) => ({ key: `k${i}`, value: `${round}-${i}` })) });
  }
  await producer.disconnect();
  const offsets = await kafka.admin().fetchTopicOffsets("idem");
  const total = offsets.reduce((sum, p) => sum + Number(p.high), 0);
  assert.equal(total, 100);
});
