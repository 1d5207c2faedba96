/**
 * PaymentStore on PostgreSQL (schema `payments`): the transaction row and
 * its outbox message are written in one database transaction, and the
 * unique index on (principal, idempotency_key) settles concurrent duplicates.
 */

import type { Sql } from "@securepay/shared";
import type { Payment, PaymentStatus, StoredPayment } from "../domain/payment.ts";
import type { ListPaymentsQuery, PaymentPage, PaymentStore } from "../domain/ports.ts";

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
        await tx`
          insert into payments.outbox (topic, key, event_id, event_type, payload, headers, created_at)
          values (
            ${message.topic}, ${message.key}, ${message.eventId}, ${message.eventType}, ${message.payload},
            ${tx.json({ ...message.headers })}, ${p.createdAt})`;
        return true;
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
