/**
 * Interoperability with librdkafka, the C client behind kcat and
 * confluent-kafka-python: its version negotiation (ApiVersions v3 fallback),
 * producing (plain, gzip, idempotent), consuming and group membership must
 * work against this broker as against Kafka, in both directions with
 * kafkajs. The tools are required: a machine without them fails here.
 */

import assert from "node:assert/strict";
import { CompressionTypes } from "kafkajs";
import { range, startTestBroker, waitFor } from "./_test_support.ts";

const PYTHON = "/usr/bin/python3";
const INSTALL_HINT = "install them with: apt-get update && apt-get install -y kcat python3-confluent-kafka";

async function run(
  command: string,
  args: string[],
  stdin = "",
  timeoutMs = 30000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(command, {
    args,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(timeoutMs),
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin));
  await writer.close();
  const output = await child.output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

async function requireTools(): Promise<void> {
  const problems: string[] = [];
  try {
    const kcat = await run("kcat", ["-V"]);
    if (kcat.code !== 0) problems.push(`kcat -V exited with ${kcat.code}`);
  } catch (error) {
    problems.push(`kcat is not runnable (${error instanceof Error ? error.message : error})`);
  }
  try {
    const python = await run(PYTHON, ["-c", "import confluent_kafka"]);
    if (python.code !== 0) problems.push(`${PYTHON} cannot import confluent_kafka`);
  } catch (error) {
    problems.push(`${PYTHON} is not runnable (${error instanceof Error ? error.message : error})`);
  }
  if (problems.length > 0) {
    throw new Error(
      `Cannot test librdkafka interoperability as its tools are missing: ${problems.join("; ")}; ${INSTALL_HINT}`,
    );
  }
}

Deno.test("kcat and kafkajs read each other's records, including gzip batches and kcat group consumption", async () => {
  await requireTools();
  await using broker = await startTestBroker({ defaultPartitions: 3 });
  const kafka = broker.kafka();

  const lines = range(30).map((i) => `key${i}:value${i}`).join("\n") + "\n";
  const produced = await run("kcat", ["-b", broker.address, "-P", "-t", "from-kcat", "-K:", "-z", "gzip"], lines);
  assert.equal(produced.code, 0, produced.stderr);

  const consumer = kafka.consumer({ groupId: "js-reads-kcat", maxWaitTimeInMs: 100 });
  const seen = new Map<string, string>();
  await consumer.connect();
  await consumer.subscribe({ topic: "from-kcat", fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      seen.set(message.key!.toString(), message.value!.toString());
      return Promise.resolve();
    },
  });
  await waitFor("kafkajs reads kcat's 30 records", () => seen.size >= 30);
  await consumer.disconnect();
  assert.equal(seen.get("key7"), "value7");

  const producer = kafka.producer();
  await producer.connect();
  await producer.send({
    topic: "from-js",
    compression: CompressionTypes.GZIP,
    messages: range(25).map((i) => ({ key: `k${i}`, value: `js${i}`, headers: { origin: "kafkajs" } })),
  });
  await producer.disconnect();
  const read = await run("kcat", [
    "-b",
    broker.address,
    "-C",
    "-t",
    "from-js",
    "-o",
    "beginning",
    "-e",
    "-q",
    "-f",
    "%k=%s;%h\\n",
  ]);
  assert.equal(read.code, 0, read.stderr);
  const records = read.stdout.trim().split("\n").sort();
  assert.equal(records.length, 25);
  assert.ok(records.includes("k3=js3;origin=kafkajs"), records.join(" "));

  const group = await run("kcat", [
    "-b",
    broker.address,
    "-G",
    "kcat-group",
    "-o",
    "beginning",
    "-e",
    "-q",
    "-f",
    "%s\\n",
    "from-js",
  ]);
  assert.equal(group.code, 0, group.stderr);
  assert.equal(group.stdout.trim().split("\n").length, 25);
});

const PYTHON_CLIENT = `
import json, sys, time
from confluent_kafka import Consumer, Producer

broker, topic, group = sys.argv[1], sys.argv[2], sys.argv[3]
errors = []
producer = Producer({"bootstrap.servers": broker, "enable.idempotence": True, "acks": "all",
                     "compression.type": "gzip", "linger.ms": 5})
for i in range(200):
    producer.produce(topic, key=f"k{i}", value=f"py{i}", on_delivery=lambda err, msg: err and errors.append(str(err)))
producer.flush(20)

consumer = Consumer({"bootstrap.servers": broker, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False})
consumer.subscribe([topic])
values = set()
deadline = time.time() + 20
while len(values) < 200 and time.time() < deadline:
    message = consumer.poll(0.2)
    if message is None:
        continue
    if message.error():
        errors.append(str(message.error()))
        continue
    values.add(message.value().decode())
consumer.commit(asynchronous=False)
committed = {tp.partition: tp.offset for tp in consumer.committed(consumer.assignment(), timeout=10)}
consumer.close()
print(json.dumps({"errors": errors, "values": len(values), "committed": committed}))
`;

Deno.test("confluent-kafka-python produces idempotently with gzip, joins a group and commits offsets kafkajs sees", async () => {
  await requireTools();
  await using broker = await startTestBroker({ defaultPartitions: 3 });
  const result = await run(PYTHON, ["-c", PYTHON_CLIENT, broker.address, "py-topic", "py-group"], "", 60000);
  assert.equal(result.code, 0, result.stderr);
  const report = JSON.parse(result.stdout) as { errors: string[]; values: number; committed: Record<string, number> };
  assert.deepEqual(report.errors, []);
  assert.equal(report.values, 200);
  const committedTotal = Object.values(report.committed).reduce((sum, offset) => sum + offset, 0);
  assert.equal(committedTotal, 200);

  const admin = broker.kafka().admin();
  await admin.connect();
  const offsets = await admin.fetchOffsets({ groupId: "py-group", topics: ["py-topic"] });
  const high = await admin.fetchTopicOffsets("py-topic");
  await admin.disconnect();
  assert.equal(offsets[0]!.partitions.reduce((sum, p) => sum + Number(p.offset), 0), 200);
  assert.equal(high.reduce((sum, p) => sum + Number(p.high), 0), 200, "idempotent producer stored no duplicates");
});
