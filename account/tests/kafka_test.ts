/**
 * account on a real (devstack) Kafka broker with real kafkajs, the real
 * PostgreSQL and the real Redis: payment events published here by hand are
 * applied exactly once, their outcomes come back through the outbox relay,
 * poison goes to the dead-letter topic, and cached balances follow every
 * change.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  callUnary,
  CONSUMER_GROUPS,
  decodeEvent,
  dlqTopic,
  encodeEvent,
  eventHeaders,
  parseEventHeaders,
  silentLogger,
  type Topic,
  TOPICS,
} from "@securepay/shared";
import { connectKafka, type ConsumedRecord, type EventConsumer, type EventProducer } from "@securepay/shared/kafka";
import { startTestBroker, waitFor } from "@securepay/shared/testing";
import type { Account } from "@securepay/shared/gen/account";
import { type BalanceCache, redisBalanceCache } from "../mod.ts";
import { type Fixture, startFixture } from "./_fixture.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const PAYMENT_SOURCE = "/securepay/payment-service";
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const OUTCOME_TOPICS = [TOPICS.paymentCompleted, TOPICS.paymentFailed, TOPICS.paymentRefunded, TOPICS.refundFailed];

interface KafkaFixture extends AsyncDisposable {
  readonly f: Fixture;
  readonly cache: BalanceCache;
  readonly producer: EventProducer;
  /** Every record of the outcome topics and the DLQ, in arrival order. */
  readonly seen: ConsumedRecord[];
}

async function startKafkaFixture(partitions = 1): Promise<KafkaFixture> {
  const broker = await startTestBroker({ defaultPartitions: partitions });
  const keyPrefix = `securepay-test:${crypto.randomUUID()}:`;
  const cache = redisBalanceCache({ url: REDIS_URL, keyPrefix, ttlMs: 60_000 });
  const kafka = connectKafka({
    brokers: broker.brokers,
    clientId: "account-test",
    logger: silentLogger,
    fetchWaitMaxMs: 50,
    heartbeatIntervalMs: 300,
    sessionTimeoutMs: 6000,
  });
  const seen: ConsumedRecord[] = [];
  let f: Fixture | undefined;
  let producer: EventProducer | undefined;
  let reader: EventConsumer | undefined;
  const dispose = async () => {
    await reader?.close();
    await producer?.close();
    await f?.[Symbol.asyncDispose]();
    await cache.close();
    await broker.close();
    const redis = new Redis(REDIS_URL);
    try {
      const keys = await redis.keys(`${keyPrefix}*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  };
  try {
    f = await startFixture({
      configure: (config) => ({
        ...config,
        kafka: {
          brokers: broker.brokers,
          clientId: "account-service",
          batchMax: 100,
          partitionsConcurrently: partitions,
          retriesMax: 2,
          sessionTimeoutMs: 6000,
          relayBatchMax: 100,
          relayPollMs: 50,
        },
      }),
      services: { balanceCache: cache },
    });
    producer = await kafka.producer();
    reader = kafka.consumer({
      groupId: `reader-${crypto.randomUUID()}`,
      topics: [...OUTCOME_TOPICS, dlqTopic(CONSUMER_GROUPS.account)],
      fromBeginning: true,
      handler: (records) => {
        seen.push(...records);
        return Promise.resolve();
      },
    });
    await reader.ready;
    const admin = f.service.adminPort;
    await waitFor("account to be ready with its consumer joined", async () => {
      const response = await fetch(`http://127.0.0.1:${admin}/readyz`);
      await response.body?.cancel();
      return response.status === 200;
    });
  } catch (error) {
    await dispose();
    throw error;
  }
  return { f, cache, producer, seen, [Symbol.asyncDispose]: dispose };
}

const admin = { subject: "ops", roles: ["ADMIN"] };

async function openAccount(f: Fixture, ownerId: string, amount: number, currency = "EUR"): Promise<Account> {
  const { account } = await callUnary(f.client, f.client.createAccount, {
    ownerId,
    currency,
    principal: { subject: ownerId, roles: [] },
  });
  if (amount > 0) {
    await callUnary(f.client, f.client.deposit, {
      accountId: account!.id,
      amount,
      idempotencyKey: `fund-${account!.id}`,
      principal: admin,
    });
  }
  return account!;
}

interface PaymentFields {
  paymentId: string;
  fromAccount: string;
  toAccount: string;
  amount: number;
  currency?: string;
}

function paymentRecord(topic: Topic, fields: PaymentFields, id: string = crypto.randomUUID()) {
  const time = new Date().toISOString();
  const message = {
    currency: "EUR",
    principal: "alice",
    initiatedAt: time,
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
    ...fields,
  };
  const value = topic === TOPICS.refundInitiated
    ? encodeEvent(TOPICS.refundInitiated, message)
    : encodeEvent(TOPICS.paymentInitiated, message);
  const headers = eventHeaders({ id, type: topic, source: PAYMENT_SOURCE, time, traceparent: TRACEPARENT });
  return { topic, key: fields.fromAccount, value, headers: { ...headers } };
}

function payment(from: Account, to: Account, amount: number, id?: string) {
  return paymentRecord(
    TOPICS.paymentInitiated,
    { paymentId: crypto.randomUUID(), fromAccount: from.id, toAccount: to.id, amount },
    id,
  );
}

function paymentIdOf(record: ConsumedRecord): string {
  return decodeEvent(record.topic as typeof TOPICS.paymentCompleted, record.value).paymentId;
}

function outcomesOf(t: KafkaFixture, paymentId: string): ConsumedRecord[] {
  return t.seen.filter((r) => OUTCOME_TOPICS.includes(r.topic as never) && paymentIdOf(r) === paymentId);
}

async function waitForOutcome(t: KafkaFixture, paymentId: string): Promise<ConsumedRecord> {
  await waitFor(`the outcome of payment ${paymentId}`, () => outcomesOf(t, paymentId).length > 0);
  return outcomesOf(t, paymentId)[0]!;
}

async function balanceOf(t: KafkaFixture, id: string): Promise<number> {
  return (await callUnary(t.f.client, t.f.client.getAccount, { id })).account!.balance;
}

function counter(t: KafkaFixture, name: string, labels = ""): number {
  return t.f.service.metrics.render().split("\n")
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => line.includes(labels))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}

async function assertBooksBalance(f: Fixture) {
  const [totals] = await f.database.db.sql<{ balances: number; deposits: number; negative: number }[]>`
    select (select coalesce(sum(balance), 0)::int8 from accounts.balances) as balances,
           (select coalesce(sum(amount), 0)::int8 from accounts.deposits) as deposits,
           (select count(*)::int8 from accounts.balances where balance < 0) as negative`;
  assert.equal(totals!.balances, totals!.deposits, "money is conserved");
  assert.equal(totals!.negative, 0, "no balance is negative");
  const unpaired = await f.database.db.sql`
    select payment_id from accounts.ledger_entries where payment_id is not null
    group by payment_id, kind like 'REFUND%'
    having count(*) <> 2 or sum(amount) <> 0`;
  assert.equal(unpaired.length, 0, "each payment and refund booked one debit and one credit of equal amount");
}

Deno.test("account applies payments and refunds from Kafka exactly once and publishes their outcomes", async (t) => {
  await using k = await startKafkaFixture();
  const alice = await openAccount(k.f, "alice", 1000);
  const bob = await openAccount(k.f, "bob", 0);

  await t.step("a payment moves the money, books a pair and publishes payment.completed", async () => {
    const record = payment(alice, bob, 300);
    const paymentId = decodeEvent(TOPICS.paymentInitiated, record.value).paymentId;
    await k.producer.send([record]);
    const outcome = await waitForOutcome(k, paymentId);
    assert.equal(outcome.topic, TOPICS.paymentCompleted);
    assert.equal(outcome.key, alice.id);
    const headers = parseEventHeaders(outcome.topic, outcome.headers);
    assert.ok(headers.ok);
    assert.equal(headers.headers.ce_source, "/securepay/account-service");
    assert.notEqual(headers.headers.ce_id, record.headers.ce_id);
    assert.equal(headers.headers.traceparent, TRACEPARENT);
    const completed = decodeEvent(TOPICS.paymentCompleted, outcome.value);
    assert.deepEqual(
      [completed.fromAccount, completed.toAccount, completed.amount, completed.payerOwnerId, completed.payeeOwnerId],
      [alice.id, bob.id, 300, "alice", "bob"],
    );
    assert.equal(await balanceOf(k, alice.id), 700);
    assert.equal(await balanceOf(k, bob.id), 300);
    const entries = await k.f.database.db.sql<{ account_id: string; amount: number; kind: string }[]>`
      select account_id, amount, kind from accounts.ledger_entries where payment_id = ${paymentId} order by amount`;
    assert.deepEqual([...entries], [
      { account_id: alice.id, amount: -300, kind: "DEBIT" },
      { account_id: bob.id, amount: 300, kind: "CREDIT" },
    ]);
    await waitFor("the outbox row to be marked sent", async () => {
      const [row] = await k.f.database.db.sql`select count(*)::int8 as n from accounts.outbox where sent_at is null`;
      return row!.n === 0;
    });
  });

  await t.step("insufficient funds publishes payment.failed with the reason and moves nothing", async () => {
    const record = payment(alice, bob, 701);
    const paymentId = decodeEvent(TOPICS.paymentInitiated, record.value).paymentId;
    await k.producer.send([record]);
    const outcome = await waitForOutcome(k, paymentId);
    assert.equal(outcome.topic, TOPICS.paymentFailed);
    assert.equal(decodeEvent(TOPICS.paymentFailed, outcome.value).reason, "insufficient_funds");
    assert.equal(await balanceOf(k, alice.id), 700);
    const [row] = await k.f.database.db.sql`select count(*)::int8 as n from accounts.ledger_entries
      where payment_id = ${paymentId}`;
    assert.equal(row!.n, 0);
  });

  await t.step("a redelivered event (same ce_id) changes nothing and publishes nothing more", async () => {
    const record = payment(alice, bob, 100);
    const paymentId = decodeEvent(TOPICS.paymentInitiated, record.value).paymentId;
    const sentinel = payment(alice, bob, 1);
    await k.producer.send([record, record, record]);
    await k.producer.send([sentinel]);
    // The sentinel follows on the same key (so the same partition): once it is answered, the copies were handled.
    await waitForOutcome(k, decodeEvent(TOPICS.paymentInitiated, sentinel.value).paymentId);
    assert.equal(outcomesOf(k, paymentId).length, 1);
    assert.equal(await balanceOf(k, alice.id), 599);
    assert.equal(await balanceOf(k, bob.id), 401);
    assert.ok(counter(k, "securepay_account_events_total", 'result="duplicate"') >= 2);
  });

  await t.step("a refund reverses the payment with REFUND_DEBIT and REFUND_CREDIT, exactly once", async () => {
    const original = payment(alice, bob, 250);
    const fields = decodeEvent(TOPICS.paymentInitiated, original.value);
    await k.producer.send([original]);
    await waitForOutcome(k, fields.paymentId);
    assert.equal(await balanceOf(k, alice.id), 349);
    const refund = paymentRecord(TOPICS.refundInitiated, fields);
    const another = paymentRecord(TOPICS.refundInitiated, fields);
    const sentinel = payment(alice, bob, 1);
    await k.producer.send([refund, refund, another, sentinel]);
    await waitForOutcome(k, decodeEvent(TOPICS.paymentInitiated, sentinel.value).paymentId);
    const outcomes = outcomesOf(k, fields.paymentId).map((r) => r.topic);
    assert.deepEqual(outcomes, [TOPICS.paymentCompleted, TOPICS.paymentRefunded]);
    assert.equal(await balanceOf(k, alice.id), 598);
    assert.equal(await balanceOf(k, bob.id), 402);
    const entries = await k.f.database.db.sql<{ account_id: string; amount: number; kind: string }[]>`
      select account_id, amount, kind from accounts.ledger_entries
      where payment_id = ${fields.paymentId} and kind like 'REFUND%' order by kind`;
    assert.deepEqual([...entries], [
      { account_id: alice.id, amount: 250, kind: "REFUND_CREDIT" },
      { account_id: bob.id, amount: -250, kind: "REFUND_DEBIT" },
    ]);
  });

  await t.step("a refund of a payment never applied publishes payment.refund.failed", async () => {
    const fields = { paymentId: crypto.randomUUID(), fromAccount: alice.id, toAccount: bob.id, amount: 5 };
    await k.producer.send([paymentRecord(TOPICS.refundInitiated, fields)]);
    const outcome = await waitForOutcome(k, fields.paymentId);
    assert.equal(outcome.topic, TOPICS.refundFailed);
    assert.equal(decodeEvent(TOPICS.refundFailed, outcome.value).reason, "payment_not_applied");
  });

  await assertBooksBalance(k.f);
  const ready = await (await fetch(`http://127.0.0.1:${k.f.service.adminPort}/readyz`)).json();
  assert.deepEqual(ready.checks, { database: "ok", "outbox-relay": "ok", "payment-consumer": "ok" });
});

Deno.test("CheckFunds is served from the Redis cache and sees a payment as soon as it is applied", async () => {
  await using k = await startKafkaFixture();
  const alice = await openAccount(k.f, "alice", 1000);
  const bob = await openAccount(k.f, "bob", 0);
  const check = () =>
    callUnary(k.f.client, k.f.client.checkFunds, { accountId: alice.id, amount: 800, currency: "EUR" });

  assert.equal((await check()).sufficient, true);
  const cached = await k.cache.get(alice.id);
  assert.equal(cached?.balance, 1000);
  // Behind the service's back (same version): only a cached answer can still say 1000.
  await k.f.database.db.sql`update accounts.balances set balance = 999 where id = ${alice.id}`;
  assert.equal((await check()).account!.balance, 1000);
  assert.ok(counter(k, "securepay_account_balance_cache_requests_total", 'result="hit"') >= 1);
  await k.f.database.db.sql`update accounts.balances set balance = 1000 where id = ${alice.id}`;

  const record = payment(alice, bob, 300);
  await k.producer.send([record]);
  await waitForOutcome(k, decodeEvent(TOPICS.paymentInitiated, record.value).paymentId);
  const after = await check();
  assert.equal(after.sufficient, false);
  assert.equal(after.account!.balance, 700);
  assert.equal(after.account!.version, 2);
  assert.equal((await k.cache.get(alice.id))?.balance, 700);
});

Deno.test("a poison record goes to account-service-group.dlq with its reason and the consumer keeps going", async () => {
  await using k = await startKafkaFixture();
  const alice = await openAccount(k.f, "alice", 1000);
  const bob = await openAccount(k.f, "bob", 0);
  const good = payment(alice, bob, 10);
  const undecodable = { ...payment(alice, bob, 10), value: new Uint8Array([0xff, 0xff, 0xff]) };
  const negative = paymentRecord(TOPICS.paymentInitiated, {
    paymentId: crypto.randomUUID(),
    fromAccount: alice.id,
    toAccount: bob.id,
    amount: -5,
  });
  const headerless = { ...payment(alice, bob, 10), headers: {} };
  const after = payment(alice, bob, 20);

  await k.producer.send([undecodable, good, negative, headerless, after]);

  await waitForOutcome(k, decodeEvent(TOPICS.paymentInitiated, after.value).paymentId);
  await waitForOutcome(k, decodeEvent(TOPICS.paymentInitiated, good.value).paymentId);
  const dlq = dlqTopic(CONSUMER_GROUPS.account);
  await waitFor("three dead letters", () => k.seen.filter((r) => r.topic === dlq).length === 3);
  const letters = k.seen.filter((r) => r.topic === dlq);
  assert.match(letters[0]!.headers.dlq_reason!, /not a valid protobuf message/);
  assert.match(letters[1]!.headers.dlq_reason!, /amount must be greater than 0/);
  assert.match(letters[2]!.headers.dlq_reason!, /ce_id must be a UUID/);
  assert.deepEqual(letters.map((r) => r.headers.dlq_original_topic), Array(3).fill(TOPICS.paymentInitiated));
  assert.equal(await balanceOf(k, alice.id), 970);
  assert.equal(counter(k, "securepay_account_events_total", 'result="invalid"') >= 3, true);
});

Deno.test("payments racing on the same accounts from several partitions conserve money and never go negative", async () => {
  await using k = await startKafkaFixture(4);
  const accounts: Account[] = [];
  for (let i = 0; i < 6; i++) accounts.push(await openAccount(k.f, `owner-${i}`, 1000));
  const records = Array.from({ length: 300 }, () => {
    const from = Math.floor(Math.random() * accounts.length);
    const to = (from + 1 + Math.floor(Math.random() * (accounts.length - 1))) % accounts.length;
    return payment(accounts[from]!, accounts[to]!, 1 + Math.floor(Math.random() * 300));
  });
  for (let i = 0; i < records.length; i += 50) await k.producer.send(records.slice(i, i + 50));

  const ids = records.map((r) => decodeEvent(TOPICS.paymentInitiated, r.value).paymentId);
  await waitFor("every payment's outcome", () => {
    const answered = new Set(k.seen.filter((r) => OUTCOME_TOPICS.includes(r.topic as never)).map(paymentIdOf));
    return ids.every((id) => answered.has(id));
  }, { timeoutMs: 60_000 });
  for (const id of ids) assert.equal(outcomesOf(k, id).length, 1, `payment ${id} answered once`);

  await assertBooksBalance(k.f);
  const [row] = await k.f.database.db.sql<
    { total: number }[]
  >`select sum(balance)::int8 as total from accounts.balances`;
  assert.equal(row!.total, 6000);
  const applied = counter(k, "securepay_account_events_total", 'result="applied"');
  const refused = counter(k, "securepay_account_events_total", 'result="insufficient_funds"');
  assert.equal(applied + refused, records.length);
  assert.match(k.f.service.metrics.render(), /# TYPE securepay_account_optimistic_conflicts_total counter/);
});
