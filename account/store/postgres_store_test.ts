/**
 * The PostgreSQL store on its own, against a fresh real database: the
 * schema's own guards and paging edge cases the gRPC tests do not reach.
 * Applying payments is proven in apply_events_test.ts.
 */

import assert from "node:assert/strict";
import { createTestDatabase, type TestDatabase } from "@securepay/shared/testing";
import type { AccountStore } from "../domain/account.ts";
import { depositFingerprint } from "../domain/rules.ts";
import { migrateAccounts } from "../mod.ts";
import { postgresAccountStore } from "./postgres_store.ts";

async function setup(): Promise<{ database: TestDatabase; store: AccountStore } & AsyncDisposable> {
  const database = await createTestDatabase();
  await migrateAccounts(database.db.sql);
  return {
    database,
    store: postgresAccountStore(database.db.sql),
    [Symbol.asyncDispose]: () => database[Symbol.asyncDispose](),
  };
}

async function funded(store: AccountStore, ownerId: string, amount: number, currency = "EUR") {
  const account = await store.createAccount({ ownerId, currency });
  if (amount > 0) {
    const command = { accountId: account.id, amount };
    await store.deposit({
      ...command,
      principal: "ops",
      idempotencyKey: `fund-${account.id}`,
      fingerprint: await depositFingerprint(command),
    });
  }
  return account;
}

Deno.test("the schema refuses a negative balance and a ledger entry without its source", async () => {
  await using t = await setup();
  const account = await funded(t.store, "alice", 10);
  await assert.rejects(
    t.database.db.sql`update accounts.balances set balance = -1 where id = ${account.id}`,
    (e: { code?: string }) => e.code === "23514",
  );
  await assert.rejects(
    t.database.db.sql`
      insert into accounts.ledger_entries (account_id, amount, currency, kind, balance_after)
      values (${account.id}, 5, 'EUR', 'DEPOSIT', 15)`,
    (e: { code?: string }) => e.code === "23514",
  );
});

Deno.test("listAccounts() pages through rows sharing a timestamp or a millisecond without loss or repetition", async () => {
  await using t = await setup();
  // Five accounts opened in one transaction share created_at; four more differ by one microsecond each.
  await t.database.db.sql`
    insert into accounts.balances (owner_id, currency, created_at)
    select 'tie', 'EUR', timestamptz '2025-01-01 00:00:00.000500+00' from generate_series(1, 5)
    union all
    select 'tie', 'EUR', timestamptz '2025-01-01 00:00:00.000500+00' + g * interval '1 microsecond'
    from generate_series(1, 4) g`;
  const expected = await t.database.db.sql<{ id: string }[]>`
    select id from accounts.balances where owner_id = 'tie' order by created_at desc, id desc`;
  const seen: string[] = [];
  let after;
  for (let pages = 0; pages < 10; pages++) {
    const page = await t.store.listAccounts({ ownerId: "tie", limit: 2, after });
    seen.push(...page.items.map((a) => a.id));
    after = page.next;
    if (after === undefined) break;
  }
  assert.deepEqual(seen, expected.map((r) => r.id));
  assert.equal(seen.length, 9);
});
