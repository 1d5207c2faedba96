/**
 * The kafkajs client against the devstack broker, with the real kafkajs:
 * order per key, retries then dead letters for failing records, commits only
 * after the handler resolved, and clean rebalances between two members.
 */

import assert from "node:assert/strict";
import { Kafka, logLevel } from "kafkajs";
import { silentLogger } from "../log.ts";
import { MetricsRegistry } from "../metrics.ts";
import { startTestBroker } from "../testing/kafka.ts";
import { waitFor } from "../testing/wait.ts";
import { connectKafka, type KafkaClientOptions } from "./kafkajs_client.ts";
import {
  type ConsumedRecord,
  type ConsumerOptions,
  type EventConsumer,
  type KafkaClient,
  PoisonRecordError,
} from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function client(brokers: readonly string[], options: Partial<KafkaClientOptions> = {}): KafkaClient {
  return connectKafka({
    brokers,
    clientId: "kafkajs-client-test",
    logger: silentLogger,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 300,
    fetchWaitMaxMs: 100,
    handlerBackoffMs: 10,
    ...options,
  });
}

function record(topic: string, key: string, value: string, headers: Record<string, string> = {}) {
  return { topic, key, value: encoder.encode(value), headers };
}

/** Starts a consumer and waits until it joined its group. */
async function consume(kafka: KafkaClient, options: ConsumerOptions): Promise<EventConsumer> {
  const consumer = kafka.consumer(options);
  try {
    await consumer.ready;
  } catch (error) {
    await consumer.close();
    throw error;
  }
  return consumer;
}

/** Every record of `topic`, read by a fresh group from the beginning. */
async function readAll(kafka: KafkaClient, topic: string, count: number): Promise<ConsumedRecord[]> {
  const seen: ConsumedRecord[] = [];
  await using _reader = await consume(kafka, {
    groupId: `reader-${crypto.randomUUID()}`,
    topics: [topic],
    fromBeginning: true,
    handler: (records) => {
      seen.push(...records);
      return Promise.resolve();
    },
  });
  await waitFor(`${count} records on ${topic}`, () => seen.length >= count);
  return seen;
}

async function committedOffsets(address: string, groupId: string, topic: string): Promise<string[]> {
  const kafka = new Kafka({ clientId: "offsets", brokers: [address], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return offsets!.partitions.sort((a, b) => a.partition - b.partition).map((p) => p.offset);
  } finally {
    await admin.disconnect();
  }
}

Deno.test("consumer hands each partition's records to the handler in the order they were sent per key", async () => {
  await using broker = await startTestBroker();
  const kafka = client(broker.brokers);
  await using admin = await kafka.admin();
  await admin.ensureTopics([{ topic: "ordered", partitions: 3 }]);
  await admin.ensureTopics([{ topic: "ordered", partitions: 3 }]); // existing topics are left alone
  await using producer = await kafka.producer();
  const byKey = new Map<string, number[]>();
  const calls: ConsumedRecord[][] = [];
  await using _consumer = await consume(kafka, {
    groupId: "order-test",
    topics: ["ordered"],
    fromBeginning: true,
    batchRecordsMax: 7,
    handler: (records) => {
      calls.push([...records]);
      for (const r of records) {
        const values = byKey.get(r.key!) ?? [];
        values.push(Number(decoder.decode(r.value)));
        byKey.set(r.key!, values);
      }
      return Promise.resolve();
    },
  });
  for (let round = 0; round < 3; round++) {
    const batch = Array.from({ length: 100 }, (_, i) => round * 100 + i);
    await producer.send(batch.map((n) => record("ordered", `key-${n % 10}`, String(n), { ce_id: `id-${n}` })));
  }
  await waitFor("300 records handled", () => [...byKey.values()].flat().length >= 300);
  assert.equal([...byKey.values()].flat().length, 300);
  for (const [key, values] of byKey) {
    const expected = Array.from({ length: 30 }, (_, i) => Number(key.slice(4)) + i * 10);
    assert.deepEqual(values, expected, `records of ${key} arrive in order`);
  }
  for (const call of calls) {
    assert.ok(call.length >= 1 && call.length <= 7, "a handler call holds at most batchRecordsMax records");
    assert.ok(call.every((r) => r.partition === call[0]!.partition), "a handler call holds one partition");
    for (let i = 1; i < call.length; i++) assert.ok(BigInt(call[i]!.offset) > BigInt(call[i - 1]!.offset));
    assert.match(call[0]!.headers.ce_id!, /^id-\d+$/);
  }
});

Deno.test("consumer retries a failing batch, dead-letters the record that keeps failing with its origin, and keeps going", async () => {
  await using broker = await startTestBroker();
  const metrics = new MetricsRegistry();
  const kafka = client(broker.brokers, { metrics });
  await using producer = await kafka.producer();
  const handled: string[] = [];
  let transientFailures = 2;
  await using _consumer = await consume(kafka, {
    groupId: "dlq-test",
    topics: ["work"],
    fromBeginning: true,
    retriesMax: 3,
    handler: (records) => {
      if (records.some((r) => decoder.decode(r.value) === "flaky") && transientFailures-- > 0) {
        return Promise.reject(new Error("database briefly away"));
      }
      if (records.some((r) => decoder.decode(r.value) === "poison")) {
        return Promise.reject(
          new PoisonRecordError("Cannot decode payment.initiated as its payload is not valid\nline 2"),
        );
      }
      handled.push(...records.map((r) => decoder.decode(r.value)));
      return Promise.resolve();
    },
  });
  await producer.send([
    record("work", "a", "one"),
    record("work", "a", "flaky"),
    record("work", "a", "poison", { ce_id: "poison-id", ce_type: "payment.initiated" }),
    record("work", "a", "two"),
  ]);
  await waitFor("the good records handled", () => handled.includes("two"));
  await producer.send([record("work", "a", "three")]);
  await waitFor("a later record handled", () => handled.includes("three"));
  assert.deepEqual([...new Set(handled)], ["one", "flaky", "two", "three"]);

  const [dead, ...more] = await readAll(kafka, "dlq-test.dlq", 1);
  assert.equal(more.length, 0, "only the poison record is dead-lettered");
  assert.equal(dead!.key, "a");
  assert.equal(decoder.decode(dead!.value), "poison");
  assert.deepEqual(dead!.headers, {
    ce_id: "poison-id",
    ce_type: "payment.initiated",
    dlq_reason: "PoisonRecordError: Cannot decode payment.initiated as its payload is not valid line 2",
    dlq_original_topic: "work",
    dlq_original_partition: "0",
    dlq_original_offset: "2",
    dlq_group: "dlq-test",
  });
  assert.match(metrics.render(), /kafka_consumer_dlq_records_total\{group="dlq-test",topic="work"\} 1/);
  await waitFor("offsets committed past every record", async () => {
    return (await committedOffsets(broker.address, "dlq-test", "work"))[0] === "5";
  });
});

Deno.test("consumer commits only handled records, so a new member of the group resumes after the last handled one", async () => {
  await using broker = await startTestBroker();
  const kafka = client(broker.brokers);
  await using producer = await kafka.producer();
  const first: string[] = [];
  let failures = 0;
  const consumer = await consume(kafka, {
    groupId: "resume-test",
    topics: ["jobs"],
    fromBeginning: true,
    retriesMax: 100,
    handler: (records) => {
      if (records.some((r) => decoder.decode(r.value).startsWith("late"))) {
        failures++;
        return Promise.reject(new Error("not now"));
      }
      first.push(...records.map((r) => decoder.decode(r.value)));
      return Promise.resolve();
    },
  });
  try {
    await producer.send(["early-0", "early-1", "early-2"].map((v) => record("jobs", "k", v)));
    await waitFor("early records handled", () => first.length === 3);
    await waitFor("commit after the early records", async () => {
      return (await committedOffsets(broker.address, "resume-test", "jobs"))[0] === "3";
    });
    await producer.send(["late-3", "late-4"].map((v) => record("jobs", "k", v)));
    await waitFor("the late batch failing repeatedly", () => failures >= 3);
  } finally {
    await consumer.close();
  }
  assert.deepEqual(await committedOffsets(broker.address, "resume-test", "jobs"), ["3"]);

  const second: ConsumedRecord[] = [];
  await using _next = await consume(kafka, {
    groupId: "resume-test",
    topics: ["jobs"],
    fromBeginning: true,
    handler: (records) => {
      second.push(...records);
      return Promise.resolve();
    },
  });
  await waitFor("the late records handled by the new member", () => second.length >= 2);
  assert.deepEqual(second.map((r) => [r.offset, decoder.decode(r.value)]), [["3", "late-3"], ["4", "late-4"]]);
});

Deno.test("consumer stops without committing when a record can be neither handled nor dead-lettered", async () => {
  await using broker = await startTestBroker();
  const kafka = client(broker.brokers);
  await using producer = await kafka.producer();
  // A space is legal in a group id but not in a topic name, so this group's DLQ cannot exist.
  const groupId = "no dlq";
  const handled: string[] = [];
  let fatal: Error | undefined;
  await using _consumer = await consume(kafka, {
    groupId,
    topics: ["halts"],
    fromBeginning: true,
    retriesMax: 1,
    onFatal: (error) => fatal = error,
    handler: (records) => {
      if (records.some((r) => decoder.decode(r.value) === "poison")) {
        return Promise.reject(new PoisonRecordError("bad"));
      }
      handled.push(...records.map((r) => decoder.decode(r.value)));
      return Promise.resolve();
    },
  });
  await producer.send([record("halts", "k", "poison"), record("halts", "k", "after")]);
  await waitFor("the consumer reports it stopped", () => fatal !== undefined);
  assert.match(fatal!.message, /Cannot dead-letter halts\/0@0/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(handled, [], "nothing after the stuck record is handled");
  assert.deepEqual(await committedOffsets(broker.address, groupId, "halts"), ["-1"]);
});

Deno.test("consumer never dead-letters a record during an outage: it fetches it again until the handler succeeds", async () => {
  // A handler failing with an ordinary error far more often than retriesMax
  // stands for a database outage: the record must wait, not be diverted.
  await using broker = await startTestBroker();
  const metrics = new MetricsRegistry();
  const kafka = client(broker.brokers, { metrics, handlerBackoffMs: 10 });
  await using producer = await kafka.producer();
  const handled: string[] = [];
  let outageCalls = 8;
  await using _consumer = await consume(kafka, {
    groupId: "outage-test",
    topics: ["outage"],
    fromBeginning: true,
    retriesMax: 2,
    handler: (records) => {
      if (outageCalls-- > 0) return Promise.reject(new Error("connection refused"));
      handled.push(...records.map((r) => decoder.decode(r.value)));
      return Promise.resolve();
    },
  });
  await producer.send([record("outage", "k", "one"), record("outage", "k", "two")]);
  await waitFor("both records handled after the outage", () => handled.length >= 2, { timeoutMs: 30_000 });
  assert.deepEqual(handled, ["one", "two"]);
  assert.ok(outageCalls < 0, "the outage outlasted retriesMax");
  assert.doesNotMatch(metrics.render(), /kafka_consumer_dlq_records_total\{/);
});

Deno.test("two members of one group rebalance without losing or repeating committed work", async () => {
  await using broker = await startTestBroker();
  const kafka = client(broker.brokers);
  await using admin = await kafka.admin();
  await admin.ensureTopics([{ topic: "shared", partitions: 4 }]);
  await using producer = await kafka.producer();
  const handledBy = new Map<string, string[]>();
  const member = (name: string) =>
    consume(kafka, {
      groupId: "rebalance-test",
      topics: ["shared"],
      fromBeginning: true,
      handler: (records) => {
        for (const r of records) {
          const id = decoder.decode(r.value);
          handledBy.set(id, [...(handledBy.get(id) ?? []), name]);
        }
        return Promise.resolve();
      },
    });
  let sent = 0;
  const sendRound = async () => {
    const values = Array.from({ length: 40 }, (_, i) => sent + i);
    sent += values.length;
    await producer.send(values.map((n) => record("shared", `key-${n % 13}`, String(n))));
    await waitFor(`${sent} records handled`, () => handledBy.size >= sent);
  };
  const names = () => new Set([...handledBy.values()].flat());

  const a = await member("a");
  await sendRound();
  const b = await member("b");
  // The join rebalances the group; rounds continue until b owns partitions.
  for (let round = 0; round < 20 && !names().has("b"); round++) await sendRound();
  assert.ok(names().has("b"), "b received partitions");
  await b.close();
  const before = sent;
  await sendRound();
  await sendRound();
  await a.close();

  assert.equal(handledBy.size, sent);
  const repeated = [...handledBy].filter(([, by]) => by.length > 1);
  assert.deepEqual(repeated, [], "no record is handled twice");
  const afterLeave = [...handledBy].filter(([id]) => Number(id) >= before).map(([, by]) => by[0]);
  assert.ok(afterLeave.every((by) => by === "a"), "a took over b's partitions");
});
