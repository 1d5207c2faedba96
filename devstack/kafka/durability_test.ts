/**
 * Crash durability: the broker runs as its own process (main.ts), kafkajs
 * produces with acks=-1 and a group commits offsets while the broker is
 * killed with SIGKILL mid-stream. After a restart on the same data folder
 * every acknowledged record and every confirmed commit must be there.
 */

import assert from "node:assert/strict";
import type { Kafka } from "kafkajs";
import { quietKafka, range, waitFor } from "./_test_support.ts";

interface BrokerProcess {
  child: Deno.ChildProcess;
  address: string;
  output: Promise<void>;
}

/** Starts main.ts and waits for its "listening on" line. */
async function spawnBroker(dataDir: string): Promise<BrokerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./main.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--data-dir",
      dataDir,
      "--partitions",
      "3",
      "--fsync",
      "always",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  let resolveAddress!: (address: string) => void;
  const address = new Promise<string>((resolve) => resolveAddress = resolve);
  const output = (async () => {
    let text = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const match = text.match(/listening on (\S+)/);
      if (match) resolveAddress(match[1]!);
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const listening = await Promise.race([
    address,
    new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 30000)),
  ]);
  clearTimeout(timer);
  if (listening === null) {
    child.kill("SIGKILL");
    await child.status;
    throw new Error("Cannot start broker process as it did not report listening within 30 s");
  }
  return { child, address: listening, output };
}

async function readAll(kafka: Kafka, topic: string): Promise<Set<string>> {
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const total = offsets.reduce((sum, p) => sum + Number(p.high), 0);
  const consumer = kafka.consumer({ groupId: `reader-${crypto.randomUUID()}`, maxWaitTimeInMs: 100 });
  const values = new Set<string>();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let count = 0;
  await consumer.run({
    autoCommit: false,
    eachMessage: ({ message }) => {
      values.add(message.value!.toString());
      count++;
      return Promise.resolve();
    },
  });
  await waitFor(`all ${total} records read back`, () => count >= total, { timeoutMs: 30000 });
  await consumer.disconnect();
  return values;
}

Deno.test({
  name: "every record acknowledged with acks=-1 and every confirmed commit survives kill -9 of the broker",
  fn: async () => {
    const dataDir = await Deno.makeTempDir({ prefix: "kafka-durability-" });
    let broker = await spawnBroker(dataDir);
    try {
      // Few retries: once the broker is killed, clients should give up quickly.
      const kafka = quietKafka(broker.address, "durability", 1);
      const acknowledged = new Set<string>();
      const committed = new Map<number, number>();

      const consumer = kafka.consumer({ groupId: "durable", maxWaitTimeInMs: 100, heartbeatInterval: 200 });
      consumer.on(consumer.events.COMMIT_OFFSETS, (event) => {
        for (const topic of event.payload.topics) {
          for (const p of topic.partitions) {
            committed.set(Number(p.partition), Math.max(committed.get(Number(p.partition)) ?? 0, Number(p.offset)));
          }
        }
      });
      await consumer.connect();
      await consumer.subscribe({ topic: "journal", fromBeginning: true });
      await consumer.run({ eachMessage: () => Promise.resolve() });

      // Several producers in flight at once, so the kill lands between and during appends.
      const producers = await Promise.all(
        range(4).map(async (p) => {
          const producer = kafka.producer({ retry: { retries: 0 } });
          await producer.connect();
          return { p, producer };
        }),
      );
      let running = true;
      const loops = producers.map(async ({ p, producer }) => {
        for (let round = 0; running; round++) {
          const values = range(20).map((i) => `p${p}-r${round}-${i}`);
          try {
            await producer.send({
              topic: "journal",
              acks: -1,
              messages: values.map((value) => ({ key: value, value })),
            });
          } catch {
            return; // The broker died; unacknowledged records may or may not exist.
          }
          for (const value of values) acknowledged.add(value);
        }
      });
      await waitFor(
        "records acknowledged and offsets committed",
        () => acknowledged.size >= 10000 && committed.size > 0,
        {
          timeoutMs: 30000,
        },
      );
      broker.child.kill("SIGKILL");
      await broker.child.status;
      await broker.output;
      running = false;
      await Promise.all(loops);
      const ackedAtKill = new Set(acknowledged);
      const committedAtKill = new Map(committed);
      await Promise.allSettled([consumer.disconnect(), ...producers.map(({ producer }) => producer.disconnect())]);

      broker = await spawnBroker(dataDir);
      const after = quietKafka(broker.address, "verifier");
      const stored = await readAll(after, "journal");
      const missing = [...ackedAtKill].filter((value) => !stored.has(value));
      assert.deepEqual(missing.slice(0, 10), [], `${missing.length} acknowledged records lost`);

      const admin = after.admin();
      await admin.connect();
      const offsets = await admin.fetchOffsets({ groupId: "durable", topics: ["journal"] });
      await admin.disconnect();
      for (const [partition, offset] of committedAtKill) {
        const found = Number(offsets[0]!.partitions.find((p) => p.partition === partition)!.offset);
        assert.ok(found >= offset, `partition ${partition}: committed ${offset}, found ${found} after restart`);
      }
    } finally {
      broker.child.kill("SIGTERM");
      await broker.child.status;
      await broker.output;
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});
