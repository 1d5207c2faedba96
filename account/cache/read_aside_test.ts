/**
 * The read-aside wrapper around the real PostgreSQL store: reads fill and
 * then use the cache, writes invalidate it after they commit, and a cache
 * that fails (Redis unreachable) only costs a database read.
 */

import assert from "node:assert/strict";
import { MetricsRegistry, silentLogger } from "@securepay/shared";
import { createTestDatabase, freePort } from "@securepay/shared/testing";
import type { AccountStore } from "../domain/account.ts";
import { depositFingerprint } from "../domain/rules.ts";
import { migrateAccounts } from "../mod.ts";
import { postgresAccountStore } from "../store/postgres_store.ts";
import type { BalanceCache } from "./balance_cache.ts";
import { memoryBalanceCache } from "./memory_cache.ts";
import { readAsideCache } from "./read_aside.ts";
import { redisBalanceCache } from "./redis_cache.ts";

async function setup(cache: BalanceCache) {
  const database = await createTestDatabase();
  await migrateAccounts(database.db.sql);
  const metrics = new MetricsRegistry();
  const front = readAsideCache(cache, { logger: silentLogger, metrics });
  const store = front.store(postgresAccountStore(database.db.sql));
  const count = (result: string) =>
    metrics.render().split("\n")
      .filter((l) => l.startsWith("securepay_account_balance_cache_requests_total{") && l.includes(`"${result}"`))
      .reduce((sum, l) => sum + Number(l.split(" ").at(-1)), 0);
  return {
    database,
    store,
    front,
    count,
    [Symbol.asyncDispose]: async () => {
      await cache.close();
      await database[Symbol.asyncDispose]();
    },
  };
}

async function deposit(store: AccountStore, accountId: string, amount: number, key: string) {
  const command = { accountId, amount };
  return await store.deposit({
    ...command,
    principal: "ops",
    idempotencyKey: key,
    fingerprint: await depositFingerprint(command),
  });
}

Deno.test("readAsideCache() fills the cache on a miss and answers the next read from it", async () => {
  const cache = memoryBalanceCache();
  await using t = await setup(cache);
  const account = await t.store.createAccount({ ownerId: "alice", currency: "EUR" });
  assert.deepEqual(await t.store.getAccount(account.id), account);
  assert.deepEqual(await cache.get(account.id), account);
  // Changed behind the store's back, at the same version: only the cache can still answer 0.
  await t.database.db.sql`update accounts.balances set balance = 5 where id = ${account.id}`;
  assert.equal((await t.store.getAccount(account.id))?.balance, 0);
  assert.equal(t.count("miss"), 1);
  assert.equal(t.count("hit"), 1);
  assert.equal(await t.store.getAccount(crypto.randomUUID()), undefined);
});

Deno.test("readAsideCache() invalidates after a deposit, so a stale reader's late put is refused", async () => {
  const cache = memoryBalanceCache();
  await using t = await setup(cache);
  const account = await t.store.createAccount({ ownerId: "alice", currency: "EUR" });
  const stale = (await t.store.getAccount(account.id))!;
  const result = await deposit(t.store, account.id, 250, "d1");
  assert.equal(result.account.version, 1);
  await cache.put(stale);
  assert.deepEqual(await t.store.getAccount(account.id), result.account);

  await t.front.invalidate([{ id: account.id, version: 2 }]);
  assert.equal(await cache.get(account.id), undefined);
});

Deno.test("readAsideCache() answers from the database when Redis cannot be reached, within its timeout", async () => {
  const cache = redisBalanceCache({ url: `redis://localhost:${freePort()}`, commandTimeoutMs: 100 });
  await using t = await setup(cache);
  const account = await t.store.createAccount({ ownerId: "alice", currency: "EUR" });
  const started = performance.now();
  assert.equal((await deposit(t.store, account.id, 40, "d1")).account.balance, 40);
  assert.equal((await t.store.getAccount(account.id))?.balance, 40);
  await t.front.invalidate([{ id: account.id, version: 9 }]);
  assert.ok(performance.now() - started < 5_000, `took ${performance.now() - started} ms`);
  assert.ok(t.count("error") >= 3, "get, put and the invalidations are counted as errors");
});
