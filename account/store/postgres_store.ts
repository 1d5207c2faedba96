/**
 * The account store on PostgreSQL (schema `accounts`). Every balance change
 * and its ledger entries are written in one transaction; idempotency and
 * double booking are settled by unique indexes, not by reads alone.
 */

import { AppError, type Cursor, isCheckViolation, notFound, type Queryable, type Sql } from "@securepay/shared";
import type {
  Account,
  AccountStatus,
  AccountStore,
  Deposit,
  DepositCommand,
  DepositResult,
  LedgerEntry,
  LedgerEntryKind,
  Page,
} from "../domain/account.ts";

/** Rows of a listing carry their sort key with microsecond precision. */
interface Keyed {
  id: string;
  created_us: number;
}

interface AccountRow {
  id: string;
  owner_id: string;
  currency: string;
  balance: number;
  version: number;
  status: AccountStatus;
  created_at: Date;
  updated_at: Date;
}

interface LedgerEntryRow {
  id: string;
  account_id: string;
  amount: number;
  currency: string;
  kind: LedgerEntryKind;
  payment_id: string | null;
  deposit_id: string | null;
  balance_after: number;
  created_at: Date;
}

interface DepositRow {
  id: string;
  account_id: string;
  amount: number;
  currency: string;
  fingerprint: string;
  created_at: Date;
}

export function postgresAccountStore(sql: Sql): AccountStore {
  return {
    async createAccount({ ownerId, currency }) {
      const [row] = await sql<AccountRow[]>`
        insert into accounts.balances (owner_id, currency) values (${ownerId}, ${currency}) returning *`;
      return toAccount(row!);
    },

    async getAccount(id) {
      return await selectAccount(sql, id);
    },

    async listAccounts({ ownerId, limit, after }) {
      const rows = await sql<(AccountRow & Keyed)[]>`
        select *, ${createdMicros(sql)} from accounts.balances
        where true
          ${ownerId === undefined ? sql`` : sql`and owner_id = ${ownerId}`}
          ${afterCursor(sql, after)}
        order by created_at desc, id desc
        limit ${limit + 1}`;
      return page(rows, limit, toAccount);
    },

    async listLedgerEntries({ accountId, limit, after }) {
      if (await selectAccount(sql, accountId) === undefined) throw notFound("Account");
      const rows = await sql<(LedgerEntryRow & Keyed)[]>`
        select *, ${createdMicros(sql)} from accounts.ledger_entries
        where account_id = ${accountId}
          ${afterCursor(sql, after)}
        order by created_at desc, id desc
        limit ${limit + 1}`;
      return page(rows, limit, toLedgerEntry);
    },

    async deposit(command) {
      try {
        return await sql.begin((tx) => depositIn(tx, command));
      } catch (error) {
        if (isCheckViolation(error, "balances_balance_max")) {
          throw new AppError("validation_error", "amount: would take the balance above its maximum", {
            issues: [{ field: "amount", message: "would take the balance above its maximum" }],
          });
        }
        throw error;
      }
    },
  };
}

async function depositIn(tx: Queryable, command: DepositCommand): Promise<DepositResult> {
  const account = await selectAccount(tx, command.accountId);
  if (account === undefined) throw notFound("Account");

  // A concurrent insert of the same (principal, key) makes this one wait for
  // it; once it commits this inserts nothing and the replay path reads it.
  const depositId = crypto.randomUUID();
  const [inserted] = await tx<DepositRow[]>`
    insert into accounts.deposits (id, account_id, principal, idempotency_key, fingerprint, amount, currency)
    values (${depositId}, ${command.accountId}, ${command.principal}, ${command.idempotencyKey},
            ${command.fingerprint}, ${command.amount}, ${account.currency})
    on conflict (principal, idempotency_key) do nothing
    returning *`;
  if (inserted === undefined) {
    const [existing] = await tx<DepositRow[]>`
      select * from accounts.deposits
      where principal = ${command.principal} and idempotency_key = ${command.idempotencyKey}`;
    if (existing === undefined) {
      // The conflicting row vanished (its transaction rolled back after all).
      throw new AppError("idempotency_key_in_use", "Idempotency-Key is in use by a request still running");
    }
    if (existing.fingerprint !== command.fingerprint) {
      throw new AppError("idempotency_key_reused", "Idempotency-Key was already used for a different deposit");
    }
    const current = await selectAccount(tx, existing.account_id);
    return { deposit: toDeposit(existing), account: current!, replayed: true };
  }

  if (account.status !== "OPEN") throw new AppError("account_closed", "Account is closed");
  const [updated] = await tx<AccountRow[]>`
    update accounts.balances
    set balance = balance + ${command.amount}, version = version + 1, updated_at = now()
    where id = ${command.accountId} and status = 'OPEN'
    returning *`;
  if (updated === undefined) throw new AppError("account_closed", "Account is closed");
  await tx`
    insert into accounts.ledger_entries (account_id, amount, currency, kind, deposit_id, balance_after)
    values (${command.accountId}, ${command.amount}, ${updated.currency}, 'DEPOSIT', ${depositId}, ${updated.balance})`;
  return { deposit: toDeposit(inserted), account: toAccount(updated), replayed: false };
}

async function selectAccount(q: Queryable, id: string): Promise<Account | undefined> {
  const [row] = await q<AccountRow[]>`select * from accounts.balances where id = ${id}`;
  return row === undefined ? undefined : toAccount(row);
}

/** The creation time in epoch microseconds: exact in int8, and below 2^53 until the year 2255. */
function createdMicros(sql: Sql) {
  return sql`(extract(epoch from created_at) * 1000000)::int8 as created_us`;
}

/** Rows after `cursor` in (created_at desc, id desc) order; nothing when there is no cursor. */
function afterCursor(sql: Sql, cursor: Cursor | undefined) {
  if (cursor === undefined) return sql``;
  return sql`and (created_at, id) < (timestamptz 'epoch' + ${cursor.after}::int8 * interval '1 microsecond', ${cursor.id}::uuid)`;
}

/**
 * A page of at most `limit` rows from `limit + 1` fetched ones; the extra row
 * only tells that more follow. The cursor holds the last row's creation time
 * in epoch microseconds, which JavaScript dates could not hold exactly.
 */
function page<R extends Keyed, T>(rows: R[], limit: number, map: (row: R) => T): Page<T> {
  if (rows.length <= limit) return { items: rows.map(map) };
  const kept = rows.slice(0, limit);
  const last = kept[kept.length - 1]!;
  const next: Cursor = { after: String(last.created_us), id: last.id };
  return { items: kept.map(map), next };
}

function toAccount(row: AccountRow): Account {
  return {
    id: row.id,
    ownerId: row.owner_id,
    currency: row.currency,
    balance: row.balance,
    version: row.version,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

function toLedgerEntry(row: LedgerEntryRow): LedgerEntry {
  return {
    id: row.id,
    accountId: row.account_id,
    amount: row.amount,
    currency: row.currency,
    kind: row.kind,
    paymentId: row.payment_id,
    depositId: row.deposit_id,
    balanceAfter: row.balance_after,
    createdAt: row.created_at,
  };
}

function toDeposit(row: DepositRow): Deposit {
  return {
    id: row.id,
    accountId: row.account_id,
    amount: row.amount,
    currency: row.currency,
    createdAt: row.created_at,
  };
}
