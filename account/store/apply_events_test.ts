/**
 * applyEvents() against a fresh real PostgreSQL database: it proves that an
 * event moves money once (inbox), that ledger, balances and outbox agree,
 * and that concurrent batches on the same accounts conserve money.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { decodeEvent, isTopic, parseEventHeaders, TOPICS } from "@securepay/shared";
import { createTestDatabase, type TestDatabase } from "@securepay/shared/testing";
import type { PaymentEvent } from "../domain/apply.ts";
import type { AccountStore } from "../domain/account.ts";
import { depositFingerprint } from "../domain/rules.ts";
import { migrateAccounts } from "../mod.ts";
import { applyEvents } from "./apply_events.ts";
import { postgresAccountStore } from "./postgres_store.ts";

interface Setup extends AsyncDisposable {
  readonly database: TestDatabase;
  readonly store: AccountStore;
}

async function setup(): Promise<Setup> {
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

const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

function payment(from: string, to: string, amount: number, extra: Partial<PaymentEvent> = {}): PaymentEvent {
  return {
    eventId: crypto.randomUUID(),
    topic: "payment.initiated",
    paymentId: crypto.randomUUID(),
    fromAccount: from,
    toAccount: to,
    amount,
    currency: "EUR",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
    traceparent: TRACEPARENT,
    ...extra,
  };
}

function refundOf(event: PaymentEvent): PaymentEvent {
  return { ...event, eventId: crypto.randomUUID(), topic: "payment.refund.initiated" };
}

interface OutboxRow {
  id: number;
  topic: string;
  key: string;
  event_id: string;
  event_type: string;
  payload: Uint8Array;
  headers: Record<string, string>;
  sent_at: Date | null;
}

async function outbox(database: TestDatabase): Promise<OutboxRow[]> {
  return await database.db.sql<OutboxRow[]>`select * from accounts.outbox order by id`;
}

async function balance(database: TestDatabase, id: string): Promise<{ balance: number; version: number }> {
  const [row] = await database.db.sql<{ balance: number; version: number }[]>`
    select balance, version from accounts.balances where id = ${id}`;
  return row!;
}

async function entries(database: TestDatabase, paymentId: string) {
  return [
    ...await database.db.sql<{ account_id: string; amount: number; kind: string; balance_after: number }[]>`
    select account_id, amount, kind, balance_after from accounts.ledger_entries
    where payment_id = ${paymentId} order by amount`,
  ];
}

/** Invariants 1-3 of DESIGN.md §8 over the whole schema. */
async function assertBooksBalance(database: TestDatabase) {
  const sql = database.db.sql;
  const [totals] = await sql<{ balances: number; deposits: number; negative: number }[]>`
    select (select coalesce(sum(balance), 0)::int8 from accounts.balances) as balances,
           (select coalesce(sum(amount), 0)::int8 from accounts.deposits) as deposits,
           (select count(*)::int8 from accounts.balances where balance < 0) as negative`;
  assert.equal(totals!.balances, totals!.deposits, "money is conserved");
  assert.equal(totals!.negative, 0);
  const mismatched = await sql`
    select b.id from accounts.balances b left join accounts.ledger_entries l on l.account_id = b.id
    group by b.id, b.balance having b.balance <> coalesce(sum(l.amount), 0)`;
  assert.equal(mismatched.length, 0, "every balance is the sum of its ledger");
  const unpaired = await sql`
    select payment_id from accounts.ledger_entries where payment_id is not null
    group by payment_id, case when kind like 'REFUND%' then 1 else 0 end
    having count(*) <> 2 or sum(amount) <> 0`;
  assert.equal(unpaired.length, 0, "every payment and refund has one debit and one credit of equal amount");
}

Deno.test("applyEvents() moves the money, books an equal and opposite pair and writes payment.completed", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 1000);
  const bob = await funded(t.store, "bob", 0);
  const event = payment(alice.id, bob.id, 300);

  const result = await applyEvents(t.database.db.sql, [event], { now: () => new Date("2030-01-02T03:04:05Z") });

  assert.deepEqual(result.outcomes, [{ event, applied: true }]);
  assert.deepEqual(result.duplicates, []);
  assert.equal(result.conflicts, 0);
  assert.deepEqual(
    [...result.changed].sort((a, b) => a.id < b.id ? -1 : 1),
    [{ id: alice.id, version: 2 }, { id: bob.id, version: 1 }].sort((a, b) => a.id < b.id ? -1 : 1),
  );
  assert.deepEqual(await balance(t.database, alice.id), { balance: 700, version: 2 });
  assert.deepEqual(await balance(t.database, bob.id), { balance: 300, version: 1 });
  assert.deepEqual(await entries(t.database, event.paymentId), [
    { account_id: alice.id, amount: -300, kind: "DEBIT", balance_after: 700 },
    { account_id: bob.id, amount: 300, kind: "CREDIT", balance_after: 300 },
  ]);

  const [row, ...rest] = await outbox(t.database);
  assert.equal(rest.length, 0);
  assert.equal(row!.topic, TOPICS.paymentCompleted);
  assert.equal(row!.event_type, TOPICS.paymentCompleted);
  assert.equal(row!.key, alice.id);
  assert.equal(row!.sent_at, null);
  assert.notEqual(row!.event_id, event.eventId);
  const headers = parseEventHeaders(row!.topic, row!.headers);
  assert.ok(headers.ok);
  assert.equal(headers.headers.ce_id, row!.event_id);
  assert.equal(headers.headers.ce_source, "/securepay/account-service");
  assert.equal(headers.headers.ce_time, "2030-01-02T03:04:05.000Z");
  assert.equal(headers.headers.traceparent, TRACEPARENT);
  assert.ok(isTopic(row!.topic));
  assert.deepEqual(decodeEvent(TOPICS.paymentCompleted, row!.payload), {
    paymentId: event.paymentId,
    fromAccount: alice.id,
    toAccount: bob.id,
    amount: 300,
    currency: "EUR",
    completedAt: "2030-01-02T03:04:05.000Z",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
  });
  const inbox = await t.database.db.sql`select event_id, topic, payment_id from accounts.inbox`;
  assert.deepEqual([...inbox], [{ event_id: event.eventId, topic: event.topic, payment_id: event.paymentId }]);
  await assertBooksBalance(t.database);
});

Deno.test("applyEvents() answers insufficient funds with payment.failed and moves nothing", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 100);
  const bob = await funded(t.store, "bob", 0);
  const event = payment(alice.id, bob.id, 101);

  const result = await applyEvents(t.database.db.sql, [event]);

  assert.deepEqual(result.outcomes, [{ event, applied: false, reason: "insufficient_funds" }]);
  assert.deepEqual(result.changed, []);
  assert.deepEqual(await balance(t.database, alice.id), { balance: 100, version: 1 });
  assert.deepEqual(await balance(t.database, bob.id), { balance: 0, version: 0 });
  assert.deepEqual(await entries(t.database, event.paymentId), []);
  const [row] = await outbox(t.database);
  assert.equal(row!.topic, TOPICS.paymentFailed);
  const failed = decodeEvent(TOPICS.paymentFailed, row!.payload);
  assert.equal(failed.reason, "insufficient_funds");
  assert.equal(failed.paymentId, event.paymentId);
  assert.equal(failed.payeeOwnerId, "bob");
});

Deno.test("applyEvents() answers an unknown account with payment.failed account_not_found", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 100);
  const event = payment(alice.id, crypto.randomUUID(), 10);
  const result = await applyEvents(t.database.db.sql, [event]);
  assert.deepEqual(result.outcomes, [{ event, applied: false, reason: "account_not_found" }]);
  const [row] = await outbox(t.database);
  assert.equal(decodeEvent(TOPICS.paymentFailed, row!.payload).reason, "account_not_found");
});

Deno.test("applyEvents() changes nothing for a redelivered event or another event of the same payment", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 1000);
  const bob = await funded(t.store, "bob", 0);
  const event = payment(alice.id, bob.id, 300);
  await applyEvents(t.database.db.sql, [event]);

  const again = await applyEvents(t.database.db.sql, [event, { ...event }, { ...event, eventId: crypto.randomUUID() }]);

  assert.deepEqual(again.outcomes, []);
  assert.equal(again.duplicates.length, 3);
  assert.deepEqual(await balance(t.database, alice.id), { balance: 700, version: 2 });
  assert.equal((await entries(t.database, event.paymentId)).length, 2);
  assert.equal((await outbox(t.database)).length, 1);
  await assertBooksBalance(t.database);
});

Deno.test("applyEvents() applies a batch in order and dedupes an event repeated inside it", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 500);
  const bob = await funded(t.store, "bob", 0);
  const first = payment(alice.id, bob.id, 400);
  const second = payment(alice.id, bob.id, 400);
  const back = payment(bob.id, alice.id, 400, { payerOwnerId: "bob", payeeOwnerId: "alice" });
  const third = payment(alice.id, bob.id, 500);

  const result = await applyEvents(t.database.db.sql, [first, second, first, back, third]);

  assert.deepEqual(result.outcomes.map((o) => o.applied ? "applied" : o.reason), [
    "applied",
    "insufficient_funds",
    "applied",
    "applied",
  ]);
  assert.deepEqual(result.duplicates, [first]);
  assert.deepEqual(await balance(t.database, alice.id), { balance: 0, version: 4 });
  assert.deepEqual(await balance(t.database, bob.id), { balance: 500, version: 3 });
  assert.deepEqual((await outbox(t.database)).map((r) => [r.topic, r.key]), [
    [TOPICS.paymentCompleted, alice.id],
    [TOPICS.paymentFailed, alice.id],
    [TOPICS.paymentCompleted, bob.id],
    [TOPICS.paymentCompleted, alice.id],
  ]);
  await assertBooksBalance(t.database);
});

Deno.test("applyEvents() reverses a payment with REFUND_DEBIT and REFUND_CREDIT exactly once", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 1000);
  const bob = await funded(t.store, "bob", 0);
  const event = payment(alice.id, bob.id, 300);
  await applyEvents(t.database.db.sql, [event]);
  const refund = refundOf(event);

  const result = await applyEvents(t.database.db.sql, [refund]);
  const again = await applyEvents(t.database.db.sql, [refund, { ...refund, eventId: crypto.randomUUID() }]);

  assert.deepEqual(result.outcomes, [{ event: refund, applied: true }]);
  assert.deepEqual(again.outcomes, []);
  assert.deepEqual(await balance(t.database, alice.id), { balance: 1000, version: 3 });
  assert.deepEqual(await balance(t.database, bob.id), { balance: 0, version: 2 });
  const booked = await t.database.db.sql<{ account_id: string; amount: number; kind: string }[]>`
    select account_id, amount, kind from accounts.ledger_entries
    where payment_id = ${event.paymentId} and kind like 'REFUND%' order by kind`;
  assert.deepEqual([...booked], [
    { account_id: alice.id, amount: 300, kind: "REFUND_CREDIT" },
    { account_id: bob.id, amount: -300, kind: "REFUND_DEBIT" },
  ]);
  const rows = await outbox(t.database);
  assert.deepEqual(rows.map((r) => r.topic), [TOPICS.paymentCompleted, TOPICS.paymentRefunded]);
  assert.equal(rows[1]!.key, alice.id);
  assert.equal(decodeEvent(TOPICS.paymentRefunded, rows[1]!.payload).amount, 300);
  await assertBooksBalance(t.database);
});

Deno.test("applyEvents() refuses the refund of a payment never applied, or one the payee has spent", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 100);
  const bob = await funded(t.store, "bob", 0);
  const carol = await funded(t.store, "carol", 0);
  const refused = payment(alice.id, bob.id, 5000);
  const spent = payment(alice.id, bob.id, 100);
  const spending = payment(bob.id, carol.id, 60);
  await applyEvents(t.database.db.sql, [refused, spent, spending]);

  const result = await applyEvents(t.database.db.sql, [refundOf(refused), refundOf(spent)]);

  assert.deepEqual(result.outcomes.map((o) => !o.applied && o.reason), ["payment_not_applied", "insufficient_funds"]);
  const rows = (await outbox(t.database)).slice(3);
  assert.deepEqual(rows.map((r) => r.topic), [TOPICS.refundFailed, TOPICS.refundFailed]);
  assert.equal(decodeEvent(TOPICS.refundFailed, rows[1]!.payload).reason, "insufficient_funds");
  assert.deepEqual(await balance(t.database, bob.id), { balance: 40, version: 2 });
  await assertBooksBalance(t.database);
});

Deno.test("applyEvents() retries when a concurrent writer changes an account first, and counts the conflict", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 1000);
  const bob = await funded(t.store, "bob", 0);
  const other = postgres(t.database.url, { max: 1, onnotice: false });
  try {
    // Another writer's change holds alice's row, uncommitted, while the batch reads the old version.
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => locked = resolve);
    const writer = other.begin(async (tx) => {
      await tx`update accounts.balances set balance = balance + 1, version = version + 1 where id = ${alice.id}`;
      locked();
      await released;
    });
    await holding;
    let conflicts = 0;
    const applying = applyEvents(t.database.db.sql, [payment(alice.id, bob.id, 300)], {
      onConflict: () => conflicts++,
    });
    // Wait until the batch's version-checked update waits on the writer's row lock.
    for (let i = 0; i < 500; i++) {
      const [waiting] = await t.database.db.sql`
        select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      if (waiting !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    release();
    await writer;
    const result = await applying;
    assert.equal(result.conflicts, 1);
    assert.equal(conflicts, 1);
    assert.deepEqual(result.outcomes.map((o) => o.applied), [true]);
    assert.deepEqual(await balance(t.database, alice.id), { balance: 701, version: 3 });
  } finally {
    await other.end({ timeout: 5 });
  }
});

Deno.test("applyEvents() with no optimistic tries left locks the accounts and still applies", async () => {
  await using t = await setup();
  const alice = await funded(t.store, "alice", 1000);
  const bob = await funded(t.store, "bob", 0);
  const result = await applyEvents(t.database.db.sql, [payment(alice.id, bob.id, 300)], { attemptsMax: 0 });
  assert.deepEqual(result.outcomes.map((o) => o.applied), [true]);
  assert.deepEqual(await balance(t.database, bob.id), { balance: 300, version: 1 });
});

Deno.test("applyEvents() conserves money when batches from many partitions race on the same accounts", async () => {
  await using t = await setup();
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push((await funded(t.store, `owner-${i}`, 1000)).id);
  const partitions = 8;
  const batches = 6;
  const perBatch = 10;
  const events: PaymentEvent[] = [];
  let conflicts = 0;
  await Promise.all(Array.from({ length: partitions }, async () => {
    for (let b = 0; b < batches; b++) {
      const batch = Array.from({ length: perBatch }, () => {
        const from = Math.floor(Math.random() * ids.length);
        const to = (from + 1 + Math.floor(Math.random() * (ids.length - 1))) % ids.length;
        return payment(ids[from]!, ids[to]!, 1 + Math.floor(Math.random() * 400));
      });
      events.push(...batch);
      const result = await applyEvents(t.database.db.sql, batch, { onConflict: () => conflicts++ });
      assert.equal(result.outcomes.length, perBatch);
    }
  }));
  await assertBooksBalance(t.database);
  const [counts] = await t.database.db.sql<{ inbox: number; outbox: number }[]>`
    select (select count(*)::int8 from accounts.inbox) as inbox, (select count(*)::int8 from accounts.outbox) as outbox`;
  assert.deepEqual(counts, { inbox: events.length, outbox: events.length });
  const [{ total }] = await t.database.db.sql<{ total: number }[]>`
    select sum(balance)::int8 as total from accounts.balances` as unknown as [{ total: number }];
  assert.equal(total, 4000);
});

Deno.test("applyEvents() refuses ids that are not lower-case UUIDs before touching the database", async () => {
  await using t = await setup();
  const event = payment(crypto.randomUUID(), crypto.randomUUID(), 1);
  await assert.rejects(
    () => applyEvents(t.database.db.sql, [{ ...event, fromAccount: event.fromAccount.toUpperCase() }]),
    TypeError,
  );
  const [row] = await t.database.db.sql<{ n: number }[]>`select count(*)::int8 as n from accounts.inbox`;
  assert.equal(row!.n, 0);
});
