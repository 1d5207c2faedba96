/**
 * Read-aside balance caching around the account store: reads of one
 * account (GetAccount, CheckFunds) try the cache first and fill it on a
 * miss; every balance change invalidates the accounts it touched once it
 * has committed. The cache is an accelerator only: when it fails, the
 * database answers and the failure is counted, never returned.
 */

import type { Logger, MetricsRegistry } from "@securepay/shared";
import type { AccountStore } from "../domain/account.ts";
import type { AccountVersion, BalanceCache } from "./balance_cache.ts";

export interface ReadAsideOptions {
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
}

export interface ReadAsideCache {
  /** `store` with getAccount served through the cache and its writes invalidating it. */
  store(store: AccountStore): AccountStore;
  /** Invalidates after a commit made elsewhere (the payment consumer); never throws. */
  invalidate(accounts: readonly AccountVersion[]): Promise<void>;
}

/** Cache failures are logged at most this often; the counter has them all. */
const ERROR_LOG_INTERVAL_MS = 10_000;

export function readAsideCache(cache: BalanceCache, options: ReadAsideOptions): ReadAsideCache {
  const requests = options.metrics.counter(
    "securepay_account_balance_cache_requests_total",
    "Balance cache lookups and writes, by operation and result (hit, miss, ok, error)",
  );
  let loggedAtMs = 0;
  const failed = (operation: string, error: unknown) => {
    requests.inc({ operation, result: "error" });
    if (Date.now() - loggedAtMs < ERROR_LOG_INTERVAL_MS) return;
    loggedAtMs = Date.now();
    options.logger.warn("balance cache failed; the database answers instead", { operation, error });
  };

  const invalidate = async (accounts: readonly AccountVersion[]) => {
    if (accounts.length === 0) return;
    try {
      await cache.invalidate(accounts);
      requests.inc({ operation: "invalidate", result: "ok" }, accounts.length);
    } catch (error) {
      // The stale value lives at most the cache's TTL.
      failed("invalidate", error);
    }
  };

  return {
    invalidate,
    store(store) {
      return {
        ...store,
        async getAccount(id) {
          try {
            const cached = await cache.get(id);
            if (cached !== undefined) {
              requests.inc({ operation: "get", result: "hit" });
              return cached;
            }
            requests.inc({ operation: "get", result: "miss" });
          } catch (error) {
            failed("get", error);
          }
          const account = await store.getAccount(id);
          if (account !== undefined) {
            try {
              await cache.put(account);
            } catch (error) {
              failed("put", error);
            }
          }
          return account;
        },
        async deposit(command) {
          const result = await store.deposit(command);
          await invalidate([{ id: result.account.id, version: result.account.version }]);
          return result;
        },
      };
    },
  };
}
