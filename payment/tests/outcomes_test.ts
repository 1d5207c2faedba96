/**
 * payment on a real (devstack) Kafka broker with real kafkajs: the outbox
 * relay publishes what payment writes, and the outcome consumer moves
 * payments forward from the events account would send (published here by
 * hand), ignoring duplicates and late events and dead-lettering poison.
 */

import assert from "node:assert/strict";
import { CONSUMER_GROUPS, dlqTopic, encodeEvent, eventHeaders, silentLogger, type Topic } from "@securepay/shared";
import { connectKafka, type ConsumedRecord, type EventProducer } from "@securepay/shared/kafka";
import { startTestBroker, waitFor } from "@securepay/shared/testing";
import { failsWith, type Stack, startStack } from "./_stack.ts";

const ACCOUNT_SOURCE = "/securepay/account-service";

function outcomeRecord(topic: Topic, paymentId: string, key: string, options: { id?: string; reason?: string } = {}) {
  const time = new Date().toISOString();
  const base = {
    paymentId,
    fromAccount: key,
    toAccount: crypto.randomUUID(),
    amount: 400,
    currency: "EUR",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
  };
  const value = topic === "payment.completed"
    ? encodeEvent(topic, { ...base, completedAt: time })
    : topic === "payment.refunded"
    ? encodeEvent(topic, { ...base, refundedAt: time })
    : encodeEvent("payment.failed", { ...base, reason: options.reason ?? "insufficient_funds", failedAt: time });
  const id = options.id ?? crypto.randomUUID();
  return { topic, key, value, headers: { ...eventHeaders({ id, type: topic, source: ACCOUNT_SOURCE, time }) } };
}

async function statusOf(stack: Stack, id: string): Promise<string> {
  const [row] = await stack.database.db.sql`select status from payments.transactions where id = ${id}`;
  return row!.status;
}

function effects(stack: Stack, effect: string): number {
  const line = stack.payment.metrics.render().split("\n")
    .filter((l) => l.startsWith("payment_outcomes_total{") && l.includes(`effect="${effect}"`));
  return line.reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
}

Deno.test("payment relays its outbox and follows completed, failed and refunded outcomes, only forward", async () => {
  await using broker = await startTestBroker();
  await using stack = await startStack({
    env: { KAFKA_BROKERS: broker.brokers.join(","), OUTBOX_POLL_MS: "50" },
  });
  const kafka = connectKafka({ brokers: broker.brokers, clientId: "payment-test", logger: silentLogger });
  await using producer: EventProducer = await kafka.producer();

  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const paid = (await stack.initiate({ fromAccount: from.id, toAccount: to.id, amount: 400 })).payment!;
  const refused = (await stack.initiate({ fromAccount: from.id, toAccount: to.id, amount: 500 })).payment!;
  const sql = stack.database.db.sql;
  await waitFor("the relay to publish both payment.initiated events", async () => {
    const [row] = await sql`select count(*)::int as n from payments.outbox where sent_at is null`;
    return row!.n === 0;
  });

  const completed = outcomeRecord("payment.completed", paid.id, from.id);
  await producer.send([completed, outcomeRecord("payment.failed", refused.id, from.id, { reason: "account_closed" })]);
  await waitFor(
    "both outcomes",
    async () => await statusOf(stack, paid.id) === "COMPLETED" && await statusOf(stack, refused.id) === "FAILED",
  );
  assert.equal((await stack.get(refused.id)).payment!.failureReason, "account_closed");

  // A redelivery, a contradicting late event and a repeat with a new id: nothing moves.
  await producer.send([
    completed,
    outcomeRecord("payment.failed", paid.id, from.id),
    outcomeRecord("payment.completed", refused.id, from.id),
  ]);
  await waitFor(
    "the duplicate and the stale events",
    () => effects(stack, "duplicate") === 1 && effects(stack, "stale") === 2,
  );
  assert.equal(await statusOf(stack, paid.id), "COMPLETED");
  assert.equal(await statusOf(stack, refused.id), "FAILED");

  // The refund: requested over gRPC, relayed, then completed by account's event.
  const refund = await stack.refund({ paymentId: paid.id });
  assert.equal(refund.payment!.refundStatus, "PENDING");
  await waitFor("the relay to publish payment.refund.initiated", async () => {
    const [row] = await sql`select sent_at from payments.outbox where topic = 'payment.refund.initiated'`;
    return row?.sent_at != null;
  });
  await producer.send([outcomeRecord("payment.refunded", paid.id, from.id)]);
  await waitFor("REFUNDED", async () => await statusOf(stack, paid.id) === "REFUNDED");
  assert.equal((await stack.get(paid.id)).payment!.refundStatus, "COMPLETED");
  await failsWith(stack.refund({ paymentId: paid.id }), "payment_not_refundable");

  const ready = await fetch(`http://127.0.0.1:${stack.payment.adminPort}/readyz`);
  const body = await ready.json();
  assert.equal(body.checks["outbox-relay"], "ok");
  assert.equal(body.checks["outcome-consumer"], "ok");
});

Deno.test("a poison outcome record goes to payment-service-group.dlq and the consumer keeps going", async () => {
  await using broker = await startTestBroker();
  await using stack = await startStack({ env: { KAFKA_BROKERS: broker.brokers.join(","), OUTBOX_POLL_MS: "50" } });
  const kafka = connectKafka({ brokers: broker.brokers, clientId: "payment-test", logger: silentLogger });
  await using producer: EventProducer = await kafka.producer();
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const paid = (await stack.initiate({ fromAccount: from.id, toAccount: to.id, amount: 400 })).payment!;

  const poison = { ...outcomeRecord("payment.completed", paid.id, from.id), value: new Uint8Array([0xff, 0x01]) };
  const unknown = outcomeRecord("payment.completed", crypto.randomUUID(), from.id);
  await producer.send([poison, unknown, outcomeRecord("payment.completed", paid.id, from.id)]);
  await waitFor("the good record behind the poison", async () => await statusOf(stack, paid.id) === "COMPLETED", {
    timeoutMs: 60_000,
  });

  const dead: ConsumedRecord[] = [];
  await using dlq = kafka.consumer({
    groupId: `dlq-reader-${crypto.randomUUID()}`,
    topics: [dlqTopic(CONSUMER_GROUPS.payment)],
    fromBeginning: true,
    handler: (records) => {
      dead.push(...records);
      return Promise.resolve();
    },
  });
  await dlq.ready;
  await waitFor("two dead letters", () => dead.length === 2, { timeoutMs: 30_000 });
  const ids = dead.map((r) => r.headers.ce_id).sort();
  assert.deepEqual(ids, [poison.headers.ce_id, unknown.headers.ce_id].sort());
});
