/**
 * The account store on PostgreSQL (schema `accounts`). Every balance change
 * and its ledger entries are written in one transaction; idempotency and
 * double booking are settled by unique indexes, not by reads alone.
 */

import {
  AppError,
  type Cursor,
  isCheckViolation,
  isUniqueViolation,
  notFound,
  type Queryable,
  type Sql,
} from "@securepay/shared";
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
  TransferCommand,
  TransferResult,
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

/** How often a transfer is tried when another writer keeps changing an account first. */
export const TRANSFER_ATTEMPTS_MAX = 8;
/** The random pause before retry n is at most n times this. */
const TRANSFER_BACKOFF_STEP_MS = 5;

class VersionConflict extends Error {}

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

    async applyTransfer(command) {
      if (command.fromAccountId === command.toAccountId) {
        throw new AppError("validation_error", "to_account: must differ from from_account", {
          issues: [{ field: "to_account", message: "must differ from from_account" }],
        });
      }
      for (let attempt = 1;; attempt++) {
        try {
          return await sql.begin((tx) => transferIn(tx, command));
        } catch (error) {
          const retryable = error instanceof VersionConflict || isSerializationFailure(error);
          if (isUniqueViolation(error, "ledger_entries_payment_kind_idx")) {
            // Another consumer booked the same payment first.
            return await alreadyApplied(sql, command);
          }
          if (!retryable) throw error;
          if (attempt >= TRANSFER_ATTEMPTS_MAX) {
            throw new AppError("conflict", "Accounts changed too often to apply the transfer", { cause: error });
          }
          // Jitter spreads competing writers apart so that one of them wins the next round.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * attempt * TRANSFER_BACKOFF_STEP_MS));
        }
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

async function transferIn(tx: Queryable, command: TransferCommand): Promise<TransferResult> {
  const [booked] = await tx`
    select 1 from accounts.ledger_entries where payment_id = ${command.paymentId} and kind = ${command.kinds.debit}`;
  if (booked !== undefined) return await alreadyApplied(tx, command);

  const from = await selectAccount(tx, command.fromAccountId);
  const to = await selectAccount(tx, command.toAccountId);
  if (from === undefined || to === undefined) throw notFound("Account");
  if (from.currency !== command.currency || to.currency !== command.currency) {
    throw new AppError("currency_mismatch", "Payment currency differs from an account's currency");
  }
  if (from.status !== "OPEN" || to.status !== "OPEN") throw new AppError("account_closed", "Account is closed");
  if (from.balance < command.amount) throw new AppError("insufficient_funds", "Insufficient funds");

  // Rows are always written in id order, so that two opposite transfers
  // cannot deadlock on each other's accounts.
  const moves = [
    { account: from, delta: -command.amount, kind: command.kinds.debit },
    { account: to, delta: command.amount, kind: command.kinds.credit },
  ].sort((a, b) => a.account.id < b.account.id ? -1 : 1);
  const after = new Map<string, Account>();
  for (const move of moves) {
    const [row] = await tx<AccountRow[]>`
      update accounts.balances
      set balance = balance + ${move.delta}, version = version + 1, updated_at = now()
      where id = ${move.account.id} and version = ${move.account.version}
      returning *`;
    if (row === undefined) throw new VersionConflict();
    after.set(row.id, toAccount(row));
    await tx`
      insert into accounts.ledger_entries (account_id, amount, currency, kind, payment_id, balance_after)
      values (${row.id}, ${move.delta}, ${row.currency}, ${move.kind}, ${command.paymentId}, ${row.balance})`;
  }
  return { from: after.get(from.id)!, to: after.get(to.id)!, alreadyApplied: false };
}

async function alreadyApplied(q: Queryable, command: TransferCommand): Promise<TransferResult> {
  const from = await selectAccount(q, command.fromAccountId);
  const to = await selectAccount(q, command.toAccountId);
  if (from === undefined || to === undefined) throw notFound("Account");
  return { from, to, alreadyApplied: true };
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

function isSerializationFailure(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === "40001" || code === "40P01";
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
