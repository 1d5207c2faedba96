/**
 * The PostgreSQL store on its own, against a fresh real database: what the
 * gRPC surface cannot reach yet (applying payments, which arrives with the
 * payment lifecycle) is proven here.
 */

import assert from "node:assert/strict";
import { AppError } from "@securepay/shared";
import { createTestDatabase, type TestDatabase } from "@securepay/shared/testing";
import type { AccountStore, TransferCommand } from "../domain/account.ts";
import { depositFingerprint } from "../domain/rules.ts";
import { migrateAccounts } from "../mod.ts";
import { postgresAccountStore } from "./postgres_store.ts";

const PAYMENT = { debit: "DEBIT", credit: "CREDIT" } as const;

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

function transfer(from: string, to: string, amount: number, paymentId = crypto.randomUUID()): TransferCommand {
  return { paymentId, fromAccountId: from, toAccountId: to, amount, currency: "EUR", kinds: PAYMENT };
}

async function expectCode(promise: Promise<unknown>, code: string) {
  await assert.rejects(promise, (e: unknown) => e instanceof AppError && e.code === code);
}

async function ledgerMatchesBalances(database: TestDatabase) {
  const rows = await database.db.sql<{ id: string; balance: number; ledger: number }[]>`
    select b.id, b.balance, coalesce(sum(l.amount), 0)::int8 as ledger
    from accounts.balances b left join accounts.ledger_entries l on l.account_id = b.id
    group by b.id, b.balance`;
  for (const row of rows) assert.equal(row.ledger, row.balance, `account ${row.id}`);
}

Deno.test("applyTransfer() moves money with a debit and a credit entry and books a payment once", async () => {
  await using t = await setup();
  const from = await funded(t.store, "alice", 1000);
  const to = await funded(t.store, "bob", 0);
  const command = transfer(from.id, to.id, 300);
  const applied = await t.store.applyTransfer(command);
  assert.equal(applied.alreadyApplied, false);
  assert.equal(applied.from.balance, 700);
  assert.equal(applied.from.version, 2);
  assert.equal(applied.to.balance, 300);
  assert.equal(applied.to.version, 1);

  const again = await t.store.applyTransfer(command);
  assert.equal(again.alreadyApplied, true);
  assert.equal(again.from.balance, 700);
  assert.equal(again.to.balance, 300);

  const entries = await t.database.db.sql<
    { account_id: string; amount: number; kind: string; balance_after: number }[]
  >`
    select account_id, amount, kind, balance_after from accounts.ledger_entries
    where payment_id = ${command.paymentId} order by amount`;
  assert.deepEqual(entries.map((e) => ({ ...e })), [
    { account_id: from.id, amount: -300, kind: "DEBIT", balance_after: 700 },
    { account_id: to.id, amount: 300, kind: "CREDIT", balance_after: 300 },
  ]);
  await ledgerMatchesBalances(t.database);
});

Deno.test("applyTransfer() refuses insufficient funds, another currency, closed and unknown accounts", async () => {
  await using t = await setup();
  const from = await funded(t.store, "alice", 100);
  const to = await funded(t.store, "bob", 0);
  const dollars = await funded(t.store, "carol", 0, "USD");
  await expectCode(t.store.applyTransfer(transfer(from.id, to.id, 101)), "insufficient_funds");
  await expectCode(t.store.applyTransfer(transfer(from.id, dollars.id, 1)), "currency_mismatch");
  await expectCode(t.store.applyTransfer(transfer(from.id, crypto.randomUUID(), 1)), "not_found");
  await expectCode(t.store.applyTransfer(transfer(from.id, from.id, 1)), "validation_error");
  await t.database.db.sql`update accounts.balances set status = 'CLOSED' where id = ${to.id}`;
  await expectCode(t.store.applyTransfer(transfer(from.id, to.id, 1)), "account_closed");

  const [row] = await t.database.db.sql<{ n: number }[]>`
    select count(*)::int8 as n from accounts.ledger_entries where payment_id is not null`;
  assert.equal(row!.n, 0);
  assert.equal((await t.store.getAccount(from.id))!.balance, 100);
});

Deno.test("applyTransfer() conserves money when opposite transfers race on the same accounts", async () => {
  await using t = await setup();
  const a = await funded(t.store, "alice", 1000);
  const b = await funded(t.store, "bob", 1000);
  const commands = Array.from(
    { length: 24 },
    (_, i) => i % 2 === 0 ? transfer(a.id, b.id, 7) : transfer(b.id, a.id, 5),
  );
  const outcomes = await Promise.allSettled(commands.map((c) => t.store.applyTransfer(c)));
  for (const outcome of outcomes) {
    // Under heavy contention a transfer may give up after its bounded retries; it must then leave no trace.
    if (outcome.status === "rejected") {
      assert.ok(outcome.reason instanceof AppError && outcome.reason.code === "conflict", String(outcome.reason));
    }
  }
  const booked = outcomes.filter((o) => o.status === "fulfilled").length;
  assert.ok(booked >= commands.length / 2, `only ${booked} of ${commands.length} transfers were booked`);
  const [totals] = await t.database.db.sql<{ total: number; payments: number }[]>`
    select (select sum(balance) from accounts.balances)::int8 as total,
           (select count(distinct payment_id) from accounts.ledger_entries where payment_id is not null)::int8 as payments`;
  assert.equal(totals!.total, 2000);
  assert.equal(totals!.payments, booked);
  await ledgerMatchesBalances(t.database);
});

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
