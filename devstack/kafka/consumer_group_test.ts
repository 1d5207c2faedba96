/**
 * Consumer groups driven by unmodified kafkajs: members join, leave and
 * crash while records keep arriving; afterwards every record was processed,
 * and only a crashed member's uncommitted work is ever processed twice.
 */

import assert from "node:assert/strict";
import type { Consumer, Kafka } from "kafkajs";
import { range, startTestBroker, waitFor } from "./_test_support.ts";

/** Fast group settings; 6000 ms is Kafka's default group.min.session.timeout.ms. */
const FAST_GROUP = { sessionTimeout: 6000, heartbeatInterval: 200, maxWaitTimeInMs: 100, rebalanceTimeout: 10000 };

interface Member {
  name: string;
  consumer: Consumer;
  joins: number;
  assigned: number;
}

/** Every processed record as "partition:offset" → names of members that processed it. */
type Processed = Map<string, string[]>;

async function startMember(kafka: Kafka, name: string, groupId: string, topic: string, processed: Processed) {
  const consumer = kafka.consumer({ groupId, ...FAST_GROUP });
  const member: Member = { name, consumer, joins: 0, assigned: 0 };
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    member.joins++;
    member.assigned = Object.values(event.payload.memberAssignment).flat().length;
  });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ partition, message }) => {
      const key = `${partition}:${message.offset}`;
      processed.set(key, [...(processed.get(key) ?? []), name]);
      return Promise.resolve();
    },
  });
  return member;
}

async function produceRound(kafka: Kafka, topic: string, round: number, count: number): Promise<void> {
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: range(count).map((i) => ({ key: `key-${i}`, value: `${round}-${i}` })) });
  await producer.disconnect();
}

async function producedKeys(kafka: Kafka, topic: string): Promise<string[]> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return offsets.flatMap((p) => range(Number(p.high)).map((offset) => `${p.partition}:${offset}`));
}

Deno.test("a group of up to three kafkajs members rebalances on join and leave without losing or repeating records", async () => {
  await using broker = await startTestBroker();
  const kafka = broker.kafka();
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: "orders", numPartitions: 6 }] });
  await admin.disconnect();
  const processed: Processed = new Map();
  const allProcessed = async () => {
    const keys = await producedKeys(kafka, "orders");
    return keys.every((key) => processed.has(key));
  };

  const a = await startMember(kafka, "a", "billing", "orders", processed);
  await produceRound(kafka, "orders", 1, 60);
  await waitFor("round 1 processed", allProcessed);
  assert.equal(a.assigned, 6);

  const b = await startMember(kafka, "b", "billing", "orders", processed);
  await waitFor("a and b share the partitions", () => a.assigned === 3 && b.assigned === 3);
  await produceRound(kafka, "orders", 2, 60);
  await waitFor("round 2 processed", allProcessed);

  const c = await startMember(kafka, "c", "billing", "orders", processed);
  await waitFor("three members with two partitions each", () => [a, b, c].every((m) => m.assigned === 2));
  await produceRound(kafka, "orders", 3, 60);
  await waitFor("round 3 processed", allProcessed);

  await b.consumer.disconnect();
  await waitFor("a and c take over b's partitions", () => a.assigned === 3 && c.assigned === 3);
  await produceRound(kafka, "orders", 4, 60);
  await waitFor("round 4 processed", allProcessed);
  const described = kafka.admin();
  await described.connect();
  const { groups } = await described.describeGroups(["billing"]);
  await described.disconnect();
  assert.equal(groups[0]!.state, "Stable");
  assert.equal(groups[0]!.protocol, "RoundRobinAssigner");
  assert.equal(groups[0]!.members.length, 2);
  await Promise.all([a.consumer.disconnect(), c.consumer.disconnect()]);

  const keys = await producedKeys(kafka, "orders");
  assert.equal(keys.length, 240);
  const repeated = [...processed].filter(([, members]) => members.length > 1);
  assert.deepEqual(repeated, [], "no record is processed twice after clean rebalances");
  for (const name of ["a", "b", "c"]) {
    assert.ok([...processed.values()].some((members) => members.includes(name)), `${name} processed records`);
  }
});

Deno.test("a crashed member's partitions move to the survivor after its session expires", async () => {
  await using broker = await startTestBroker({ defaultPartitions: 4 });
  const kafka = broker.kafka();
  const processed: Processed = new Map();
  await produceRound(kafka, "payments", 1, 40);

  // The crashing member runs in its own process so that SIGKILL stops its heartbeats for real.
  const crasher = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_crash_member_test_support.ts", import.meta.url).pathname, broker.address],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const crasherLines: string[] = [];
  const crasherOutput = (async () => {
    const decoder = new TextDecoderStream();
    let pending = "";
    for await (const chunk of crasher.stdout.pipeThrough(decoder)) {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop()!;
      crasherLines.push(...lines);
    }
  })();
  try {
    await waitFor("the crashing member joins", () => crasherLines.includes("joined"), { timeoutMs: 30000 });
    const survivor = await startMember(kafka, "survivor", "ledger", "payments", processed);
    await waitFor(
      "both members hold two partitions",
      () => survivor.assigned === 2 && crasherLines.filter((l) => l === "joined").length >= 2,
      {
        timeoutMs: 30000,
      },
    );
    await produceRound(kafka, "payments", 2, 40);
    await waitFor("the crashing member processes records", () => crasherLines.some((l) => l.includes(":")));
    crasher.kill("SIGKILL");
    await crasher.status;
    await produceRound(kafka, "payments", 3, 40);
    await waitFor("the survivor takes all partitions", () => survivor.assigned === 4, { timeoutMs: 30000 });
    const keys = await producedKeys(kafka, "payments");
    await waitFor(
      "every record processed",
      () => keys.every((key) => processed.has(key) || crasherLines.includes(key)),
    );
    await survivor.consumer.disconnect();
    for (const [key, members] of processed) {
      assert.equal(members.length, 1, `survivor processed ${key} once`);
    }
    // Anything the survivor repeated must have come from the crashed member's uncommitted tail.
    assert.equal(keys.length, 120);
  } finally {
    try {
      crasher.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await crasher.status;
    await crasherOutput;
  }
});
