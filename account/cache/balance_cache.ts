/**
 * The balance cache port: accounts as read from the database, each carrying
 * its row version, so that a slow reader can never put an older balance over
 * a newer one. Both adapters (Redis and in-process) pass one contract suite.
 */

import type { Account } from "../domain/account.ts";

/** An account id with the version its row reached. */
export interface AccountVersion {
  readonly id: string;
  readonly version: number;
}

export interface BalanceCache extends AsyncDisposable {
  /** The cached account, or undefined when none is cached (or it expired or was invalidated). */
  get(id: string): Promise<Account | undefined>;
  /**
   * Caches `account` unless the cache already holds this version or a newer
   * one, or was invalidated at a newer version: atomically, so that of two
   * racing puts the newer version always wins.
   */
  put(account: Account): Promise<void>;
  /**
   * Forgets every cached value older than the given versions, and refuses a
   * later put of an older version (a reader that fetched the row before the
   * change committed). A value at or above the version stays.
   */
  invalidate(accounts: readonly AccountVersion[]): Promise<void>;
  close(): Promise<void>;
}

/** Five minutes: a missed invalidation can serve a stale balance for at most this long. */
export const BALANCE_CACHE_TTL_MS_DEFAULT = 5 * 60_000;

/** The JSON form both adapters store. */
export interface StoredAccount {
  id: string;
  ownerId: string;
  currency: string;
  balance: number;
  version: number;
  status: Account["status"];
  createdAt: string;
  updatedAt: string;
}

export function toStored(account: Account): StoredAccount {
  return {
    id: account.id,
    ownerId: account.ownerId,
    currency: account.currency,
    balance: account.balance,
    version: account.version,
    status: account.status,
    createdAt: account.createdAt.toISOString(),
    updatedAt: account.updatedAt.toISOString(),
  };
}

export function fromStored(stored: StoredAccount): Account {
  return { ...stored, createdAt: new Date(stored.createdAt), updatedAt: new Date(stored.updatedAt) };
}

export function assertVersion(version: number): void {
  if (!Number.isSafeInteger(version) || version < 0) {
    throw new RangeError(`Cannot cache an account as its version is not a non-negative integer: ${version}`);
  }
}
