/**
 * PaymentStore on PostgreSQL (schema `payments`): the transaction row and
 * its outbox message are written in one database transaction, and the
 * unique index on (principal, idempotency_key) settles concurrent duplicates.
 */

import type { Sql, TransactionSql } from "@securepay/shared";
import { type Outcome, type OutcomeEffect, UnknownPaymentError } from "../domain/outcomes.ts";
import type { Payment, PaymentStatus, RefundStatus, StoredPayment } from "../domain/payment.ts";
import type { ListPaymentsQuery, OutboxMessage, PaymentPage, PaymentStore } from "../domain/ports.ts";

interface TransactionRow {
  id: string;
  principal: string;
  idempotency_key: string;
  fingerprint: string;
  from_account: string;
  to_account: string;
  amount: number;
  currency: string;
  description: string | null;
  status: PaymentStatus;
  failure_reason: string | null;
  refund_status: RefundStatus | null;
  payer_owner_id: string;
  payee_owner_id: string;
  created_at: Date;
  updated_at: Date;
  /** created_at to the microsecond, for keyset cursors. */
  created_key: string;
}

export function postgresPaymentStore(sql: Sql): PaymentStore {
  const columns = sql`
    id, principal, idempotency_key, fingerprint, from_account, to_account, amount, currency, description,
    status, failure_reason, payer_owner_id, payee_owner_id, created_at, updated_at,
    (select r.status from payments.refunds r where r.payment_id = transactions.id) as refund_status,
    to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_key`;

  return {
    async findByIdempotencyKey(principal, idempotencyKey) {
      const [row] = await sql<TransactionRow[]>`
        select ${columns} from payments.transactions
        where principal = ${principal} and idempotency_key = ${idempotencyKey}`;
      return row ? toStored(row) : undefined;
    },

    async insertWithOutbox(row, message) {
      return await sql.begin(async (tx) => {
        const p = row.payment;
        // ON CONFLICT waits for a concurrent insert of the same key to settle, so
        // exactly one request wins and the others see its row when they re-read.
        const inserted = await tx`
          insert into payments.transactions (
            id, principal, idempotency_key, fingerprint, from_account, to_account, amount, currency,
            description, status, failure_reason, payer_owner_id, payee_owner_id, created_at, updated_at)
          values (
            ${p.id}, ${row.principal}, ${row.idempotencyKey}, ${row.fingerprint}, ${p.fromAccount},
            ${p.toAccount}, ${p.amountMinor}, ${p.currency}, ${p.description}, ${p.status}, ${p.failureReason},
            ${p.payerOwnerId}, ${p.payeeOwnerId}, ${p.createdAt}, ${p.updatedAt})
          on conflict (principal, idempotency_key) do nothing
          returning id`;
        if (inserted.length === 0) return false;
        await insertOutbox(tx, message, p.createdAt);
        return true;
      });
    },

    async requestRefund(request, messageOf) {
      return await sql.begin(async (tx) => {
        const byKey = async () => {
          const [row] = await tx<{ payment_id: string }[]>`
            select payment_id from payments.refunds
            where principal = ${request.principal} and idempotency_key = ${request.idempotencyKey}`;
          return row?.payment_id;
        };
        const answered = await byKey();
        if (answered !== undefined && answered !== request.paymentId) return { kind: "key_reused" as const };
        // The row lock serialises every refund of this payment, so only one can see it refundable.
        const [locked] = await tx`select id from payments.transactions where id = ${request.paymentId} for update`;
        if (!locked) return { kind: "not_found" as const };
        // Read after the lock, in a new statement: its snapshot sees a refund committed while we waited.
        const [current] = await tx<TransactionRow[]>`
          select ${columns} from payments.transactions where id = ${request.paymentId}`;
        const payment = toPayment(current!);
        if (answered !== undefined) return { kind: "replayed" as const, payment };
        if (payment.status !== "COMPLETED" || payment.refundStatus !== null) {
          return { kind: "not_refundable" as const, payment };
        }
        // ON CONFLICT waits for a concurrent insert of the same (principal, key) to settle.
        const inserted = await tx`
          insert into payments.refunds (
            id, payment_id, principal, idempotency_key, fingerprint, status, created_at, updated_at)
          values (
            ${request.refundId}, ${request.paymentId}, ${request.principal}, ${request.idempotencyKey},
            ${request.fingerprint}, 'PENDING', ${request.requestedAt}, ${request.requestedAt})
          on conflict do nothing
          returning id`;
        if (inserted.length === 0) {
          // The payment is locked by us, so the conflict is the key, taken meanwhile for another payment.
          return (await byKey()) === request.paymentId
            ? { kind: "replayed" as const, payment }
            : { kind: "key_reused" as const };
        }
        await insertOutbox(tx, messageOf(payment), request.requestedAt);
        return { kind: "requested" as const, payment: { ...payment, refundStatus: "PENDING" as const } };
      });
    },

    async applyOutcomes(outcomes) {
      if (outcomes.length === 0) return [];
      return await sql.begin(async (tx) => {
        const effects: OutcomeEffect[] = [];
        for (const outcome of outcomes) effects.push(await applyOutcome(tx, outcome));
        return effects;
      });
    },

    async findById(id) {
      const [row] = await sql<TransactionRow[]>`select ${columns} from payments.transactions where id = ${id}`;
      return row ? toPayment(row) : undefined;
    },

    async list(query: ListPaymentsQuery): Promise<PaymentPage> {
      const conditions = [sql`true`];
      if (query.ownerId !== undefined) {
        conditions.push(sql`(payer_owner_id = ${query.ownerId} or payee_owner_id = ${query.ownerId})`);
      }
      if (query.accountId !== undefined) {
        conditions.push(sql`(from_account = ${query.accountId} or to_account = ${query.accountId})`);
      }
      if (query.status !== undefined) conditions.push(sql`status = ${query.status}`);
      if (query.after !== undefined) {
        conditions.push(sql`(created_at, id) < (${query.after.after}::timestamptz, ${query.after.id}::uuid)`);
      }
      const where = conditions.reduce((acc, c) => sql`${acc} and ${c}`);
      // One extra row tells whether another page follows.
      const rows = await sql<TransactionRow[]>`
        select ${columns} from payments.transactions
        where ${where}
        order by created_at desc, id desc
        limit ${query.limit + 1}`;
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        payments: page.map(toPayment),
        next: rows.length > query.limit && last ? { after: last.created_key, id: last.id } : undefined,
      };
    },
  };
}

async function insertOutbox(tx: TransactionSql, message: OutboxMessage, createdAt: string): Promise<void> {
  await tx`
    insert into payments.outbox (topic, key, event_id, event_type, payload, headers, created_at)
    values (
      ${message.topic}, ${message.key}, ${message.eventId}, ${message.eventType}, ${message.payload},
      ${tx.json({ ...message.headers })}, ${createdAt})`;
}

/**
 * One outcome inside the batch's transaction. Every update names the state
 * it moves from, so a late or repeated event matches no row and changes
 * nothing; the trigger would refuse a backwards move anyway.
 */
async function applyOutcome(tx: TransactionSql, outcome: Outcome): Promise<OutcomeEffect> {
  const fresh = await tx`
    insert into payments.inbox (event_id, topic) values (${outcome.eventId}, ${outcome.topic})
    on conflict do nothing
    returning event_id`;
  if (fresh.length === 0) return "duplicate";
  const id = outcome.paymentId;
  let moved;
  switch (outcome.topic) {
    case "payment.completed":
      moved = await tx`
        update payments.transactions set status = 'COMPLETED'
        where id = ${id} and status = 'PENDING' returning id`;
      break;
    case "payment.failed":
      moved = await tx`
        update payments.transactions set status = 'FAILED', failure_reason = ${outcome.reason}
        where id = ${id} and status = 'PENDING' returning id`;
      break;
    case "payment.refunded":
      // Only a refund still PENDING completes: one that already failed stays failed, its payment COMPLETED.
      moved = await tx`
        update payments.refunds set status = 'COMPLETED'
        where payment_id = ${id} and status = 'PENDING' returning id`;
      if (moved.length > 0) {
        await tx`update payments.transactions set status = 'REFUNDED' where id = ${id} and status = 'COMPLETED'`;
      }
      break;
    case "payment.refund.failed":
      moved = await tx`
        update payments.refunds set status = 'FAILED', failure_reason = ${outcome.reason}
        where payment_id = ${id} and status = 'PENDING' returning id`;
      break;
  }
  if (moved.length > 0) return "applied";
  const [known] = await tx`select 1 from payments.transactions where id = ${id}`;
  if (!known) {
    throw new UnknownPaymentError(id, outcome.topic);
  }
  return "stale";
}

function toPayment(row: TransactionRow): Payment {
  return {
    id: row.id,
    fromAccount: row.from_account,
    toAccount: row.to_account,
    amountMinor: row.amount,
    currency: row.currency,
    description: row.description,
    status: row.status,
    failureReason: row.failure_reason,
    refundStatus: row.refund_status,
    payerOwnerId: row.payer_owner_id,
    payeeOwnerId: row.payee_owner_id,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

function toStored(row: TransactionRow): StoredPayment {
  return {
    payment: toPayment(row),
    principal: row.principal,
    idempotencyKey: row.idempotency_key,
    fingerprint: row.fingerprint,
  };
}
