/**
 * The outbox relay against the real PostgreSQL and the devstack broker with
 * kafkajs: order per key, marking sent, NOTIFY latency, the polling
 * fallback, publish failures, two relays on one schema, and restarts.
 */

import assert from "node:assert/strict";
import { connectPostgres, type Sql } from "../db.ts";
import { silentLogger } from "../log.ts";
import { MetricsRegistry } from "../metrics.ts";
import { connectKafka } from "../kafka/kafkajs_client.ts";
import type { ConsumedRecord, EventProducer, KafkaClient, OutgoingRecord } from "../kafka/types.ts";
import { createTestDatabase } from "../testing/postgres.ts";
import { startTestBroker } from "../testing/kafka.ts";
import { waitFor } from "../testing/wait.ts";
import { outboxNotifySql, type OutboxRelayOptions, outboxTableSql, startOutboxRelay } from "./relay.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Fixture extends AsyncDisposable {
  sql: Sql;
  url: string;
  schema: string;
  topic: string;
  kafka: KafkaClient;
  producer: EventProducer;
  /** Records of `topic` as a fresh group reads them. */
  received: ConsumedRecord[];
  insert(rows: { key: string; seq: number }[]): Promise<void>;
  relayOptions(overrides?: Partial<OutboxRelayOptions>): OutboxRelayOptions;
}

async function fixture({ notify = true } = {}): Promise<Fixture> {
  const stack = new AsyncDisposableStack();
  try {
    const database = stack.use(await createTestDatabase());
    const broker = stack.use(await startTestBroker());
    const sql = database.db.sql;
    const schema = `relay_${crypto.randomUUID().slice(0, 8)}`;
    await sql.unsafe(`create schema ${schema}`);
    await sql.unsafe(outboxTableSql(schema));
    if (notify) await sql.unsafe(outboxNotifySql(schema));
    const topic = `${schema}.events`;
    const kafka = connectKafka({
      brokers: broker.brokers,
      clientId: "relay-test",
      logger: silentLogger,
      sessionTimeoutMs: 6000,
      heartbeatIntervalMs: 300,
      fetchWaitMaxMs: 50,
    });
    const admin = stack.use(await kafka.admin());
    await admin.ensureTopics([{ topic, partitions: 3 }]);
    const producer = stack.use(await kafka.producer());
    const received: ConsumedRecord[] = [];
    const consumer = stack.use(kafka.consumer({
      groupId: `reader-${schema}`,
      topics: [topic],
      fromBeginning: true,
      handler: (records) => {
        received.push(...records);
        return Promise.resolve();
      },
    }));
    await consumer.ready;
    return {
      sql,
      url: database.url,
      schema,
      topic,
      kafka,
      producer,
      received,
      async insert(rows) {
        const values = rows.map(({ key, seq }) => {
          const eventId = crypto.randomUUID();
          return {
            topic,
            key,
            event_id: eventId,
            event_type: "test.event",
            payload: encoder.encode(`${key}:${seq}`),
            headers: { ce_id: eventId, ce_type: "test.event", seq: String(seq) },
          };
        });
        await sql`insert into ${sql(schema)}.outbox ${sql(values)}`;
      },
      relayOptions: (overrides = {}) => ({
        sql,
        schema,
        producer,
        logger: silentLogger,
        pollMs: 50,
        lockRetryMs: 100,
        ...overrides,
      }),
      [Symbol.asyncDispose]: () => stack.disposeAsync(),
    };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

/** Payloads per key in the order they arrived, e.g. {k1: [0, 1, 2]}. */
function sequences(records: readonly ConsumedRecord[]): Map<string, number[]> {
  const byKey = new Map<string, number[]>();
  for (const r of records) {
    const [key, seq] = decoder.decode(r.value).split(":");
    byKey.set(key!, [...(byKey.get(key!) ?? []), Number(seq)]);
  }
  return byKey;
}

function rows(keys: number, perKey: number, from = 0): { key: string; seq: number }[] {
  const out = [];
  for (let seq = from; seq < from + perKey; seq++) {
    for (let k = 0; k < keys; k++) out.push({ key: `key-${k}`, seq });
  }
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}

async function unsentCount(f: Fixture): Promise<number> {
  const [row] = await f.sql<{ n: number }[]>`
    select count(*)::int8 as n from ${f.sql(f.schema)}.outbox where sent_at is null`;
  return row!.n;
}

Deno.test("startOutboxRelay() publishes unsent rows in batches, in order per key, and marks them sent", async () => {
  await using f = await fixture();
  await f.insert(rows(5, 240)); // 1200 rows: three batches of at most 500
  const metrics = new MetricsRegistry();
  await using relay = await startOutboxRelay(f.relayOptions({ metrics, batchMax: 500 }));
  await waitFor("1200 records received", () => f.received.length >= 1200);
  await waitFor("all rows marked sent", async () => await unsentCount(f) === 0);
  assert.equal(f.received.length, 1200);
  for (const [key, seqs] of sequences(f.received)) assert.deepEqual(seqs, range(0, 240), `order of ${key}`);
  const [first] = f.received;
  assert.equal(first!.headers.ce_type, "test.event");
  assert.match(first!.headers.ce_id!, /^[0-9a-f-]{36}$/);
  assert.equal(await relay.lag(), 0);
  assert.ok(relay.active);
  assert.match(metrics.render(), new RegExp(`outbox_published_total\\{schema="${f.schema}"\\} 1200`));
  assert.match(metrics.render(), /outbox_publish_delay_seconds_count\{schema="relay_[0-9a-f]+"\} 1200/);
});

Deno.test("startOutboxRelay() is woken by the insert trigger's NOTIFY long before its poll interval", async () => {
  await using f = await fixture();
  await using relay = await startOutboxRelay(f.relayOptions({ pollMs: 5000 }));
  await waitFor("the relay holds the lock", () => relay.active);
  // Let it finish its first (empty) pass and fall asleep for the 5 s poll.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const latencies: number[] = [];
  for (let i = 0; i < 3; i++) {
    const started = Date.now();
    await f.insert([{ key: "k", seq: i }]);
    await waitFor(`record ${i} received`, () => f.received.length > i, { timeoutMs: 4000 });
    latencies.push(Date.now() - started);
  }
  assert.ok(Math.max(...latencies) < 1000, `latencies ${latencies} ms stay far below the 5000 ms poll`);
});

Deno.test("startOutboxRelay() falls back to polling where no notification ever arrives", async () => {
  await using f = await fixture({ notify: false });
  await using _relay = await startOutboxRelay(f.relayOptions({ pollMs: 100, listen: false }));
  await f.insert(rows(2, 5));
  await waitFor("10 records received by polling", () => f.received.length >= 10);
  await f.insert(rows(2, 5, 5));
  await waitFor("20 records received by polling", () => f.received.length >= 20);
  for (const seqs of sequences(f.received).values()) assert.deepEqual(seqs, range(0, 10));
});

Deno.test("startOutboxRelay() leaves rows unsent while publishing fails and publishes them once it works again", async () => {
  await using f = await fixture();
  let failing = true;
  let attempts = 0;
  const flaky: EventProducer = {
    send(records: readonly OutgoingRecord[]) {
      attempts++;
      return failing ? Promise.reject(new Error("broker unreachable")) : f.producer.send(records);
    },
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  const metrics = new MetricsRegistry();
  await using relay = await startOutboxRelay(f.relayOptions({ producer: flaky, metrics, backoffMaxMs: 100 }));
  await f.insert(rows(3, 4));
  await waitFor("three failed attempts", () => attempts >= 3);
  assert.equal(await unsentCount(f), 12);
  assert.equal(await relay.lag(), 12);
  assert.equal(f.received.length, 0);
  failing = false;
  await waitFor("12 records received", () => f.received.length >= 12);
  await waitFor("all rows marked sent", async () => await unsentCount(f) === 0);
  for (const seqs of sequences(f.received).values()) assert.deepEqual(seqs, range(0, 4));
  assert.match(metrics.render(), /outbox_publish_failures_total\{schema="relay_[0-9a-f]+"\} [3-9]/);
});

Deno.test("startOutboxRelay() publishes again rows whose acknowledgement was lost (at least once)", async () => {
  await using f = await fixture();
  let lose = 1;
  const lossy: EventProducer = {
    async send(records: readonly OutgoingRecord[]) {
      await f.producer.send(records);
      if (lose-- > 0) throw new Error("acknowledgement lost");
    },
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  await using _relay = await startOutboxRelay(f.relayOptions({ producer: lossy, backoffMaxMs: 100 }));
  await f.insert([{ key: "k", seq: 0 }, { key: "k", seq: 1 }]);
  await waitFor("the rows marked sent", async () => await unsentCount(f) === 0);
  await waitFor("both copies received", () => f.received.length >= 4);
  assert.deepEqual(sequences(f.received).get("k"), [0, 1, 0, 1]);
  assert.equal(new Set(f.received.map((r) => r.headers.ce_id)).size, 2, "copies share their ce_id");
});

Deno.test("two relays on one schema never publish at once; the standby takes over when the active one stops", async () => {
  await using f = await fixture();
  // Each relay has its own pool, as two replicas would.
  await using secondPool = connectPostgres(f.url, { maxConnections: 4 });
  const a = await startOutboxRelay(f.relayOptions());
  await using b = await startOutboxRelay(f.relayOptions({ sql: secondPool.sql }));
  try {
    await waitFor("one relay holds the lock", () => a.active || b.active);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(a.active !== b.active, "exactly one relay is active");
    for (let i = 0; i < 10; i++) await f.insert(rows(4, 10, i * 10));
    await waitFor("400 records received", () => f.received.length >= 400);
  } finally {
    await a.close();
  }
  await waitFor("the standby took over", () => b.active);
  await f.insert(rows(4, 10, 100));
  await waitFor("440 records received", () => f.received.length >= 440);
  await waitFor("all rows marked sent", async () => await unsentCount(f) === 0);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(f.received.length, 440, "no record was published twice");
  for (const [key, seqs] of sequences(f.received)) assert.deepEqual(seqs, range(0, 110), `order of ${key}`);
});

Deno.test("a restarted relay publishes what was inserted while none ran, and nothing it had already sent", async () => {
  await using f = await fixture();
  const first = await startOutboxRelay(f.relayOptions());
  await f.insert(rows(2, 5));
  await waitFor("10 records received", () => f.received.length >= 10);
  await waitFor("all rows marked sent", async () => await unsentCount(f) === 0);
  await first.close();
  await f.insert(rows(2, 5, 5));
  assert.equal(await unsentCount(f), 10);
  await using _second = await startOutboxRelay(f.relayOptions());
  await waitFor("20 records received", () => f.received.length >= 20);
  await waitFor("all rows marked sent", async () => await unsentCount(f) === 0);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(f.received.length, 20);
  for (const seqs of sequences(f.received).values()) assert.deepEqual(seqs, range(0, 10));
});

Deno.test("when the active relay's database session dies, a relay takes the lock again and publishing goes on", async () => {
  await using f = await fixture();
  await using secondPool = connectPostgres(f.url, { maxConnections: 4 });
  await using a = await startOutboxRelay(f.relayOptions());
  await using b = await startOutboxRelay(f.relayOptions({ sql: secondPool.sql }));
  await f.insert(rows(2, 5));
  await waitFor("10 records received", () => f.received.length >= 10);
  await waitFor("all rows marked sent", async () => await unsentCount(f) === 0);
  const killed = await f.sql<{ pid: number }[]>`
    select pg_terminate_backend(pid), pid from pg_locks where locktype = 'advisory' and database = (
      select oid from pg_database where datname = current_database())`;
  assert.equal(killed.length, 1, "one session holds the relay lock");
  await f.insert(rows(2, 5, 5));
  await waitFor("20 records received", () => f.received.length >= 20, { timeoutMs: 15_000 });
  assert.ok(a.active || b.active);
  for (const seqs of sequences(f.received).values()) assert.deepEqual(seqs, range(0, 10));
});
