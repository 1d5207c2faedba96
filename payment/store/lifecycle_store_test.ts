/**
 * The payment lifecycle in PostgreSQL: outcome events move a payment only
 * forward and each event id counts once; a payment has at most one refund,
 * whatever keys and races ask for more.
 */

import assert from "node:assert/strict";
import type { Sql } from "@securepay/shared";
import { PaymentRefundInitiated } from "@securepay/shared/gen/events";
import { paymentInitiatedMessage, refundInitiatedMessage } from "../domain/events.ts";
import { type Outcome, type OutcomeTopic, UnknownPaymentError } from "../domain/outcomes.ts";
import type { Payment, StoredPayment } from "../domain/payment.ts";
import type { PaymentStore, RefundRequest } from "../domain/ports.ts";
import { createPaymentDatabase } from "../tests/_database.ts";
import { postgresPaymentStore } from "./postgres_payment_store.ts";

async function accepted(store: PaymentStore): Promise<Payment> {
  const createdAt = new Date().toISOString();
  const row: StoredPayment = {
    payment: {
      id: crypto.randomUUID(),
      fromAccount: crypto.randomUUID(),
      toAccount: crypto.randomUUID(),
      amountMinor: 250,
      currency: "EUR",
      description: null,
      status: "PENDING",
      failureReason: null,
      refundStatus: null,
      payerOwnerId: "alice",
      payeeOwnerId: "bob",
      createdAt,
      updatedAt: createdAt,
    },
    principal: "alice",
    idempotencyKey: crypto.randomUUID(),
    fingerprint: "a".repeat(64),
  };
  assert.equal(
    await store.insertWithOutbox(
      row,
      paymentInitiatedMessage(row.payment, { principal: "alice", eventId: crypto.randomUUID() }),
    ),
    true,
  );
  return row.payment;
}

const outcome = (topic: OutcomeTopic, paymentId: string, reason: string | null = null): Outcome => ({
  eventId: crypto.randomUUID(),
  topic,
  paymentId,
  reason,
});

const refundOf = (paymentId: string, key: string = crypto.randomUUID()): RefundRequest => ({
  refundId: crypto.randomUUID(),
  paymentId,
  principal: "support-1",
  idempotencyKey: key,
  fingerprint: "b".repeat(64),
  requestedAt: new Date().toISOString(),
});

const messageFor = (payment: Payment) =>
  refundInitiatedMessage(payment, {
    principal: "support-1",
    eventId: crypto.randomUUID(),
    initiatedAt: new Date().toISOString(),
  });

async function refundOutbox(sql: Sql): Promise<number> {
  const [row] = await sql<{ n: number }[]>`
    select count(*)::int as n from payments.outbox where topic = 'payment.refund.initiated'`;
  return row!.n;
}

Deno.test("applyOutcomes() completes or fails a PENDING payment, and a duplicate or late event changes nothing", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const paid = await accepted(store);
  const refused = await accepted(store);
  const completed = outcome("payment.completed", paid.id);
  assert.deepEqual(
    await store.applyOutcomes([completed, outcome("payment.failed", refused.id, "insufficient_funds")]),
    ["applied", "applied"],
  );
  assert.equal((await store.findById(paid.id))!.status, "COMPLETED");
  const failed = (await store.findById(refused.id))!;
  assert.deepEqual([failed.status, failed.failureReason], ["FAILED", "insufficient_funds"]);

  // The same event again is a duplicate; contradicting or repeated outcomes with new ids are stale.
  assert.deepEqual(
    await store.applyOutcomes([
      completed,
      outcome("payment.failed", paid.id, "account_closed"),
      outcome("payment.completed", refused.id),
      outcome("payment.completed", paid.id),
    ]),
    ["duplicate", "stale", "stale", "stale"],
  );
  const after = (await store.findById(paid.id))!;
  assert.deepEqual([after.status, after.failureReason], ["COMPLETED", null]);
  assert.equal((await store.findById(refused.id))!.status, "FAILED");
});

Deno.test("applyOutcomes() refunds only a COMPLETED payment and records a failed refund without moving it", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const a = await accepted(store);
  const b = await accepted(store);
  await store.applyOutcomes([outcome("payment.completed", a.id), outcome("payment.completed", b.id)]);
  assert.equal((await store.requestRefund(refundOf(a.id), messageFor)).kind, "requested");
  assert.equal((await store.requestRefund(refundOf(b.id), messageFor)).kind, "requested");

  assert.deepEqual(
    await store.applyOutcomes([
      outcome("payment.refunded", a.id),
      outcome("payment.refund.failed", b.id, "insufficient_funds"),
    ]),
    ["applied", "applied"],
  );
  const refunded = (await store.findById(a.id))!;
  assert.deepEqual([refunded.status, refunded.refundStatus], ["REFUNDED", "COMPLETED"]);
  const kept = (await store.findById(b.id))!;
  assert.deepEqual([kept.status, kept.refundStatus], ["COMPLETED", "FAILED"]);
  const [reason] = await database.db.sql`select failure_reason from payments.refunds where payment_id = ${b.id}`;
  assert.equal(reason!.failure_reason, "insufficient_funds");

  // Late and contradicting refund outcomes: nothing moves, in either direction.
  assert.deepEqual(
    await store.applyOutcomes([
      outcome("payment.refund.failed", a.id, "late"),
      outcome("payment.refunded", b.id),
      outcome("payment.completed", a.id),
    ]),
    ["stale", "stale", "stale"],
  );
  assert.deepEqual(
    [(await store.findById(a.id))!.status, (await store.findById(b.id))!.status],
    ["REFUNDED", "COMPLETED"],
  );
});

Deno.test("applyOutcomes() applies nothing of a batch that names an unknown payment", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const known = await accepted(store);
  await assert.rejects(
    () =>
      store.applyOutcomes([outcome("payment.completed", known.id), outcome("payment.completed", crypto.randomUUID())]),
    UnknownPaymentError,
  );
  assert.equal((await store.findById(known.id))!.status, "PENDING");
  const [inbox] = await database.db.sql`select count(*)::int as n from payments.inbox`;
  assert.equal(inbox!.n, 0);
});

Deno.test("requestRefund() refunds only a COMPLETED payment, once, and writes its event in the same transaction", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const payment = await accepted(store);
  const pending = await store.requestRefund(refundOf(payment.id), messageFor);
  assert.equal(pending.kind, "not_refundable");
  assert.equal((await store.requestRefund(refundOf(crypto.randomUUID()), messageFor)).kind, "not_found");

  await store.applyOutcomes([outcome("payment.completed", payment.id)]);
  const first = refundOf(payment.id, "refund-key");
  const requested = await store.requestRefund(first, messageFor);
  assert.equal(requested.kind, "requested");
  if (requested.kind === "requested") {
    assert.deepEqual([requested.payment.status, requested.payment.refundStatus], ["COMPLETED", "PENDING"]);
  }
  // The same key again is a replay; another key cannot refund it again; the key cannot serve another payment.
  assert.equal((await store.requestRefund({ ...first, refundId: crypto.randomUUID() }, messageFor)).kind, "replayed");
  assert.equal((await store.requestRefund(refundOf(payment.id), messageFor)).kind, "not_refundable");
  const other = await accepted(store);
  await store.applyOutcomes([outcome("payment.completed", other.id)]);
  assert.equal((await store.requestRefund(refundOf(other.id, "refund-key"), messageFor)).kind, "key_reused");

  const [event] = await database.db.sql`
    select key, payload, headers from payments.outbox where topic = 'payment.refund.initiated'`;
  assert.equal(event!.key, payment.fromAccount);
  const decoded = PaymentRefundInitiated.decode(event!.payload);
  assert.deepEqual([decoded.paymentId, decoded.amount, decoded.payerOwnerId, decoded.payeeOwnerId], [
    payment.id,
    250,
    "alice",
    "bob",
  ]);
  assert.equal(event!.headers.ce_type, "payment.refund.initiated");
  assert.equal(await refundOutbox(database.db.sql), 1);
});

Deno.test("requestRefund() run 20 times at once with different keys records one refund and one event", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const payment = await accepted(store);
  await store.applyOutcomes([outcome("payment.completed", payment.id)]);
  const results = await Promise.all(
    Array.from({ length: 20 }, () => store.requestRefund(refundOf(payment.id), messageFor)),
  );
  assert.equal(results.filter((r) => r.kind === "requested").length, 1);
  assert.equal(results.filter((r) => r.kind === "not_refundable").length, 19);
  assert.equal(await refundOutbox(database.db.sql), 1);
  const [refunds] = await database.db.sql`select count(*)::int as n from payments.refunds`;
  assert.equal(refunds!.n, 1);
});

Deno.test("the refunds table lets a refund's status move only once, forward", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const payment = await accepted(store);
  await store.applyOutcomes([outcome("payment.completed", payment.id)]);
  await store.requestRefund(refundOf(payment.id), messageFor);
  const sql = database.db.sql;
  await sql`update payments.refunds set status = 'FAILED', failure_reason = 'x'`;
  await assert.rejects(() => sql`update payments.refunds set status = 'COMPLETED'`, /not an allowed transition/);
  await assert.rejects(() => sql`update payments.refunds set payment_id = ${crypto.randomUUID()}`, /immutable/);
});
