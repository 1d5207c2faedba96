/**
 * The account domain: accounts, deposits and ledger entries, and the port
 * through which the service reads and writes them. No I/O lives here.
 */

import type { Cursor } from "@securepay/shared";

export const ACCOUNT_STATUSES = ["OPEN", "CLOSED"] as const;
export type AccountStatus = typeof ACCOUNT_STATUSES[number];

export const LEDGER_ENTRY_KINDS = ["DEPOSIT", "DEBIT", "CREDIT", "REFUND_DEBIT", "REFUND_CREDIT"] as const;
export type LedgerEntryKind = typeof LEDGER_ENTRY_KINDS[number];

export interface Account {
  readonly id: string;
  readonly ownerId: string;
  readonly currency: string;
  /** Minor units of `currency`, never negative. */
  readonly balance: number;
  /** Bumped by every balance change. */
  readonly version: number;
  readonly status: AccountStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface LedgerEntry {
  readonly id: string;
  readonly accountId: string;
  /** Signed minor units: positive adds to the balance, negative takes from it. */
  readonly amount: number;
  readonly currency: string;
  readonly kind: LedgerEntryKind;
  readonly paymentId: string | null;
  readonly depositId: string | null;
  readonly balanceAfter: number;
  readonly createdAt: Date;
}

export interface Deposit {
  readonly id: string;
  readonly accountId: string;
  readonly amount: number;
  readonly currency: string;
  readonly createdAt: Date;
}

export interface DepositResult {
  readonly deposit: Deposit;
  /** The account as it stands after the deposit (or now, for a replay). */
  readonly account: Account;
  /** True when an earlier deposit with the same (principal, key) answered. */
  readonly replayed: boolean;
}

export interface DepositCommand {
  readonly accountId: string;
  readonly amount: number;
  /** The principal's subject; idempotency keys are scoped to it. */
  readonly principal: string;
  readonly idempotencyKey: string;
  /** Fingerprint of the request, from {@link depositFingerprint}. */
  readonly fingerprint: string;
}

export interface PageQuery {
  readonly limit: number;
  /** Continue after this row (newest first). */
  readonly after?: Cursor;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Set when more rows follow. */
  readonly next?: Cursor;
}

/** Where accounts live. Operating failures are thrown as AppError. */
export interface AccountStore {
  createAccount(input: { ownerId: string; currency: string }): Promise<Account>;
  getAccount(id: string): Promise<Account | undefined>;
  listAccounts(query: PageQuery & { ownerId?: string }): Promise<Page<Account>>;
  /** Throws not_found when the account does not exist. */
  listLedgerEntries(query: PageQuery & { accountId: string }): Promise<Page<LedgerEntry>>;
  /**
   * Books a deposit: the deposit row, the balance change and its ledger entry
   * in one transaction, at most once per (principal, idempotency key).
   */
  deposit(command: DepositCommand): Promise<DepositResult>;
}
