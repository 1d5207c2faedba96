/**
 * Benchmark of the devstack broker with kafkajs (`deno task bench:kafka`).
 * The broker runs as its own process (main.ts), as in development, so its
 * memory is measured apart from the clients'. Reports:
 * - produce and consume throughput of 1 KiB records,
 * - produce→consume latency (p50/p99) at a steady 1,000 records/s,
 * - the broker's peak RSS while 1 GiB is written.
 *
 * Flags: --quick (smaller volumes), --fsync always|interval|never.
 */

import { Kafka, logLevel } from "kafkajs";

const quick = Deno.args.includes("--quick");
const fsyncAt = Deno.args.indexOf("--fsync");
const fsync = fsyncAt >= 0 ? Deno.args[fsyncAt + 1] ?? "" : "always";
if (!["always", "interval", "never"].includes(fsync)) {
  throw new TypeError(`Cannot benchmark as --fsync must be always, interval or never, got ${JSON.stringify(fsync)}`);
}
const RECORD_BYTES = 1024;
const THROUGHPUT_RECORDS = quick ? 50_000 : 300_000;
const LATENCY_SECONDS = quick ? 3 : 10;
const LATENCY_RATE = 1000;
const MEMORY_BYTES = quick ? 256 * 1024 * 1024 : 1024 * 1024 * 1024;
/** kafkajs encodes in JavaScript; two client threads keep the broker, not the client, the bottleneck. */
const PRODUCER_WORKERS = 2;

interface Broker {
  child: Deno.ChildProcess;
  address: string;
  dataDir: string;
}

async function spawnBroker(): Promise<Broker> {
  const dataDir = await Deno.makeTempDir({ prefix: "kafka-bench-" });
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
      fsync,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = Date.now() + 30000;
  while (!/listening on (\S+)/.test(text)) {
    if (Date.now() > deadline) throw new Error("Cannot benchmark as the broker did not start within 30 s");
    const { value, done } = await reader.read();
    if (done) throw new Error(`Cannot benchmark as the broker exited: ${text}`);
    text += value;
  }
  // Keep draining stdout so the broker never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return { child, address: text.match(/listening on (\S+)/)![1]!, dataDir };
}

async function stopBroker(broker: Broker): Promise<void> {
  broker.child.kill("SIGTERM");
  await broker.child.status;
  await Deno.remove(broker.dataDir, { recursive: true });
}

function kafkaFor(address: string): Kafka {
  return new Kafka({ clientId: "bench", brokers: [address], logLevel: logLevel.NOTHING });
}

/**
 * Produces `total` records from PRODUCER_WORKERS workers at once (each with
 * its own kafkajs producer and several sends in flight); returns records/s
 * over the wall time of the whole run.
 */
async function produce(address: string, topic: string, total: number): Promise<number> {
  const admin = kafkaFor(address).admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
  const workers = Array.from({ length: PRODUCER_WORKERS }, () => {
    const worker = new Worker(new URL("./_bench_worker.ts", import.meta.url), { type: "module" });
    const messages: unknown[] = [];
    let wake: (() => void) | undefined;
    worker.onmessage = (event) => {
      messages.push(event.data);
      wake?.();
    };
    worker.onerror = (event) => {
      console.error(`Cannot benchmark as a producer worker failed: ${event.message}`);
      Deno.exit(1);
    };
    const next = async () => {
      while (messages.length === 0) await new Promise<void>((resolve) => wake = resolve);
      return messages.shift();
    };
    worker.postMessage({ address, topic, records: total / PRODUCER_WORKERS, recordBytes: RECORD_BYTES });
    return { worker, next };
  });
  for (const { next } of workers) await next();
  const started = performance.now();
  for (const { worker } of workers) worker.postMessage("go");
  const results = await Promise.all(workers.map(({ next }) => next() as Promise<{ records: number }>));
  const seconds = (performance.now() - started) / 1000;
  return results.reduce((sum, r) => sum + r.records, 0) / seconds;
}

async function consume(kafka: Kafka, topic: string, total: number): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-${crypto.randomUUID()}`, maxBytesPerPartition: 4 << 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let count = 0;
  let started = 0;
  let resolveDone!: () => void;
  const done = new Promise<void>((resolve) => resolveDone = resolve);
  await consumer.run({
    eachBatch: ({ batch }) => {
      if (started === 0) started = performance.now();
      count += batch.messages.length;
      if (count >= total) resolveDone();
      return Promise.resolve();
    },
  });
  const wallStart = performance.now();
  await done;
  const seconds = (performance.now() - wallStart) / 1000;
  await consumer.disconnect();
  return count / seconds;
}

async function latency(kafka: Kafka): Promise<{ p50: number; p99: number; max: number; count: number }> {
  const topic = "bench-latency";
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
  await admin.disconnect();
  // Committing once a second rather than after every fetched batch keeps the
  // consumer's fetch loop from waiting on a commit between records, as a
  // latency-sensitive service would configure it.
  const consumer = kafka.consumer({ groupId: "bench-latency" });
  const samples: number[] = [];
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => joined = true);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  await consumer.run({
    autoCommitInterval: 1000,
    eachMessage: ({ message }) => {
      samples.push(performance.timeOrigin + performance.now() - Number(message.value!.toString().slice(0, 20)));
      return Promise.resolve();
    },
  });
  while (!joined) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 500));
  const producer = kafka.producer();
  await producer.connect();
  // The first second warms up both processes' JIT and is not measured.
  const warmUp = LATENCY_RATE;
  const total = LATENCY_RATE * LATENCY_SECONDS + warmUp;
  const started = performance.now();
  const filler = "x".repeat(RECORD_BYTES - 20);
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    // Pace against the schedule, not the previous send, so slow answers do not lower the rate.
    const due = started + (i * 1000) / LATENCY_RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    const sentAt = (performance.timeOrigin + performance.now()).toFixed(3).padStart(20, "0");
    pending.push(producer.send({ topic, acks: -1, messages: [{ key: `k${i}`, value: sentAt + filler }] }));
    if (pending.length > 1000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  const deadline = Date.now() + 10000;
  while (samples.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await producer.disconnect();
  await consumer.disconnect();
  const sorted = samples.slice(warmUp).sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? NaN, count: sorted.length };
}

function rssBytes(pid: number): { rss: number; peak: number } {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const field = (name: string) => Number(status.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1] ?? 0) * 1024;
  return { rss: field("VmRSS"), peak: field("VmHWM") };
}

async function memory(): Promise<{ peakRss: number; seconds: number; recordsPerSecond: number }> {
  const broker = await spawnBroker();
  try {
    let peak = 0;
    const sample = () => peak = Math.max(peak, rssBytes(broker.child.pid).rss);
    const timer = setInterval(sample, 100);
    const total = MEMORY_BYTES / RECORD_BYTES;
    const started = performance.now();
    const recordsPerSecond = await produce(broker.address, "bench-memory", total);
    clearInterval(timer);
    sample();
    return {
      peakRss: Math.max(peak, rssBytes(broker.child.pid).peak),
      seconds: (performance.now() - started) / 1000,
      recordsPerSecond,
    };
  } finally {
    await stopBroker(broker);
  }
}

const MiB = 1024 * 1024;
console.log(`kafka bench: 1 KiB records, fsync ${fsync}${quick ? ", quick" : ""}`);
{
  // Latency first, on a broker of its own, so no earlier bulk write is still being flushed.
  const broker = await spawnBroker();
  try {
    const lat = await latency(kafkaFor(broker.address));
    console.log(
      `latency at ${LATENCY_RATE} records/s for ${LATENCY_SECONDS} s: p50 ${lat.p50.toFixed(1)} ms, p99 ${
        lat.p99.toFixed(1)
      } ms, max ${lat.max.toFixed(1)} ms (${lat.count} samples)`,
    );
  } finally {
    await stopBroker(broker);
  }
}
{
  const broker = await spawnBroker();
  try {
    const produced = await produce(broker.address, "bench-throughput", THROUGHPUT_RECORDS);
    console.log(
      `produce: ${Math.round(produced)} records/s (${
        (produced * RECORD_BYTES / MiB).toFixed(1)
      } MiB/s, ${THROUGHPUT_RECORDS} records, acks=-1, ${PRODUCER_WORKERS} kafkajs producers)`,
    );
    const consumed = await consume(kafkaFor(broker.address), "bench-throughput", THROUGHPUT_RECORDS);
    console.log(`consume: ${Math.round(consumed)} records/s (${(consumed * RECORD_BYTES / MiB).toFixed(1)} MiB/s)`);
  } finally {
    await stopBroker(broker);
  }
}
const mem = await memory();
console.log(
  `memory: peak broker RSS ${(mem.peakRss / MiB).toFixed(0)} MiB while writing ${
    (MEMORY_BYTES / MiB).toFixed(0)
  } MiB in ${mem.seconds.toFixed(1)} s (${Math.round(mem.recordsPerSecond)} records/s)`,
);
