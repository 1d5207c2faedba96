/**
 * checkInvariants() against the real schemas (migrated from the services'
 * own migration files): a small consistent world passes, and each
 * deliberately broken row makes exactly the check it breaks fail.
 */

import assert from "node:assert/strict";
import { encodeEvent, eventHeaders, migrate, readMigrations, type Sql, type Topic, TOPICS } from "@securepay/shared";
import { createTestDatabase } from "@securepay/shared/testing";
import { checkInvariants, formatViolations, type InvariantId } from "./invariants.ts";

const SCHEMAS = [
  ["accounts", "../../account/migrations/"],
  ["payments", "../../payment/migrations/"],
  ["notifications", "../../notification/migrations/"],
] as const;

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const C = "00000000-0000-4000-8000-00000000000c";
const P1 = "00000000-0000-4000-8000-000000000001"; // COMPLETED A -> B 1000
const P2 = "00000000-0000-4000-8000-000000000002"; // FAILED A -> C 999999
const P3 = "00000000-0000-4000-8000-000000000003"; // REFUNDED B -> C 500
const FINGERPRINT = "0".repeat(64);

/** Runs `body` on a fresh database holding a consistent world of three accounts and three payments. */
async function withWorld(body: (sql: Sql) => Promise<void>): Promise<void> {
  await using db = await createTestDatabase();
  const sql = db.db.sql;
  for (const [schema, dir] of SCHEMAS) {
    await migrate(sql, schema, await readMigrations(new URL(dir, import.meta.url)));
  }
  await sql`insert into accounts.balances (id, owner_id, currency, balance, version) values
    (${A}, 'o1', 'EUR', 9000, 3), (${B}, 'o2', 'EUR', 6000, 5), (${C}, 'o3', 'EUR', 0, 2)`;
  for (const [account, amount, n] of [[A, 10_000, 1], [B, 5_000, 2]] as const) {
    const id = crypto.randomUUID();
    await sql`insert into accounts.deposits (id, account_id, principal, idempotency_key, fingerprint, amount, currency)
      values (${id}, ${account}, 'admin', ${`dep-${n}`}, ${FINGERPRINT}, ${amount}, 'EUR')`;
    await sql`insert into accounts.ledger_entries (account_id, amount, currency, kind, deposit_id, balance_after)
      values (${account}, ${amount}, 'EUR', 'DEPOSIT', ${id}, ${amount})`;
  }
  const payments = [
    { id: P1, from: A, to: B, amount: 1_000, status: "COMPLETED", owner: "o1" },
    { id: P2, from: A, to: C, amount: 999_999, status: "FAILED", owner: "o1" },
    { id: P3, from: B, to: C, amount: 500, status: "REFUNDED", owner: "o2" },
  ];
  for (const p of payments) {
    await sql`insert into payments.transactions (id, principal, idempotency_key, fingerprint, from_account, to_account,
        amount, currency, status, payer_owner_id, payee_owner_id)
      values (${p.id}, ${p.owner}, ${`key-${p.id}`}, ${FINGERPRINT}, ${p.from}, ${p.to}, ${p.amount}, 'EUR', ${p.status},
        ${p.owner}, 'o9')`;
    await outbox(sql, "payments", TOPICS.paymentInitiated, p);
    await sql`insert into accounts.inbox (event_id, topic, payment_id)
      values (${crypto.randomUUID()}, ${TOPICS.paymentInitiated}, ${p.id})`;
  }
  await ledger(sql, P1, [["DEBIT", A, -1_000, 9_000], ["CREDIT", B, 1_000, 6_000]]);
  await ledger(sql, P3, [
    ["DEBIT", B, -500, 5_500],
    ["CREDIT", C, 500, 500],
    ["REFUND_DEBIT", C, -500, 0],
    ["REFUND_CREDIT", B, 500, 6_000],
  ]);
  await outbox(sql, "accounts", TOPICS.paymentCompleted, payments[0]!, ["payer", "payee"]);
  await outbox(sql, "accounts", TOPICS.paymentFailed, payments[1]!, ["payer"]);
  await outbox(sql, "accounts", TOPICS.paymentCompleted, payments[2]!, ["payer", "payee"]);
  await outbox(sql, "payments", TOPICS.refundInitiated, payments[2]!);
  await sql`insert into accounts.inbox (event_id, topic, payment_id)
    values (${crypto.randomUUID()}, ${TOPICS.refundInitiated}, ${P3})`;
  await outbox(sql, "accounts", TOPICS.paymentRefunded, payments[2]!, ["payer", "payee"]);
  await sql`insert into payments.refunds (id, payment_id, principal, idempotency_key, fingerprint, status)
    values (${crypto.randomUUID()}, ${P3}, 'admin', 'refund-1', ${FINGERPRINT}, 'COMPLETED')`;
  await body(sql);
}

async function ledger(sql: Sql, paymentId: string, entries: readonly (readonly [string, string, number, number])[]) {
  for (const [kind, account, amount, after] of entries) {
    await sql`insert into accounts.ledger_entries (account_id, amount, currency, kind, payment_id, balance_after)
      values (${account}, ${amount}, 'EUR', ${kind}, ${paymentId}, ${after})`;
  }
}

/** A sent outbox row carrying a real event payload, and the notices it caused. */
async function outbox(
  sql: Sql,
  schema: "payments" | "accounts",
  topic: Topic,
  p: { id: string; from: string; to: string; amount: number },
  recipients: readonly string[] = [],
): Promise<string> {
  const eventId = crypto.randomUUID();
  const payload = encodeEvent(topic, {
    paymentId: p.id,
    fromAccount: p.from,
    toAccount: p.to,
    amount: p.amount,
    currency: "EUR",
    payerOwnerId: "o1",
    payeeOwnerId: "o9",
  } as never);
  const headers = eventHeaders({ id: eventId, type: topic, source: "/test", time: new Date().toISOString() });
  await sql`insert into ${sql(schema)}.outbox (topic, key, event_id, event_type, payload, headers, sent_at)
    values (${topic}, ${p.from}, ${eventId}, ${topic}, ${payload}, ${sql.json({ ...headers })}, now())`;
  for (const recipient of recipients) {
    await sql`insert into notifications.deliveries (event_id, recipient, event_type, payment_id, owner_id, channel,
        status, claim_id, sent_at)
      values (${eventId}, ${recipient}, ${topic}, ${p.id}, 'o1', 'log', 'sent', ${crypto.randomUUID()}, now())`;
  }
  return eventId;
}

async function assertViolates(sql: Sql, invariant: InvariantId, pattern: RegExp, options = {}) {
  const violations = await checkInvariants(sql, options);
  assert.ok(
    violations.some((v) => v.invariant === invariant && pattern.test(v.message)),
    `expected a violation of ${invariant} matching ${pattern}, got:\n${formatViolations(violations) || "(none)"}`,
  );
}

Deno.test("checkInvariants() finds nothing wrong in a consistent world", async () => {
  await withWorld(async (sql) => {
    assert.deepEqual(await checkInvariants(sql, { deposits: { EUR: 15_000 } }), []);
  });
});

Deno.test("checkInvariants() reports invariant 1 when money appears or deposits differ from the caller's", async () => {
  await withWorld(async (sql) => {
    await sql`update accounts.balances set balance = balance + 1 where id = ${A}`;
    await assertViolates(sql, 1, /balances add up to 15001 but deposits to 15000/);
    await assertViolates(sql, 1, /balance 9001 but its ledger entries add up to 9000/);
  });
  await withWorld(async (sql) => {
    await assertViolates(sql, 1, /the caller deposited 14000/, { deposits: { EUR: 14_000 } });
  });
  await withWorld(async (sql) => {
    await sql`delete from accounts.ledger_entries where kind = 'DEPOSIT' and account_id = ${B}`;
    await assertViolates(sql, 1, /deposit .* 0 DEPOSIT entries/);
  });
});

Deno.test("checkInvariants() reports invariant 2 for a negative balance", async () => {
  await withWorld(async (sql) => {
    await sql`alter table accounts.balances drop constraint balances_balance_non_negative`;
    await sql`update accounts.balances set balance = balance - 9005 where id = ${A}`;
    await sql`update accounts.balances set balance = balance + 9005 where id = ${B}`;
    await assertViolates(sql, 2, /negative balance -5/);
  });
});

Deno.test("checkInvariants() reports invariant 3 for a missing credit, money on a failed payment or a half refund", async () => {
  await withWorld(async (sql) => {
    await sql`delete from accounts.ledger_entries where payment_id = ${P1} and kind = 'CREDIT'`;
    await sql`update accounts.balances set balance = balance - 1000 where id = ${B}`;
    await assertViolates(sql, 3, /COMPLETED payment .*0001 of 1000 EUR: expected .*found \[DEBIT/);
  });
  await withWorld(async (sql) => {
    await ledger(sql, P2, [["DEBIT", A, -1, 8_999], ["CREDIT", C, 1, 1]]);
    await assertViolates(sql, 3, /FAILED payment .*0002/);
  });
  await withWorld(async (sql) => {
    await sql`delete from accounts.ledger_entries where payment_id = ${P3} and kind = 'REFUND_CREDIT'`;
    await assertViolates(sql, 3, /REFUNDED payment .*0003/);
  });
  await withWorld(async (sql) => {
    await ledger(sql, crypto.randomUUID(), [["CREDIT", C, 7, 7]]);
    await assertViolates(sql, 3, /has 1 ledger entries but no transaction/);
  });
});

Deno.test("checkInvariants() reports invariant 4 for a PENDING payment, an unsent event or an unapplied payment", async () => {
  await withWorld(async (sql) => {
    const id = crypto.randomUUID();
    await sql`insert into payments.transactions (id, principal, idempotency_key, fingerprint, from_account, to_account,
        amount, currency, status, payer_owner_id, payee_owner_id)
      values (${id}, 'o1', 'key-pending', ${FINGERPRINT}, ${A}, ${B}, 5, 'EUR', 'PENDING', 'o1', 'o2')`;
    await sql`insert into payments.outbox (topic, key, event_id, event_type, payload)
      values (${TOPICS.paymentInitiated}, ${A}, ${crypto.randomUUID()}, ${TOPICS.paymentInitiated},
        ${encodeEvent(TOPICS.paymentInitiated, { paymentId: id, amount: 5 } as never)})`;
    await assertViolates(sql, 4, /is still PENDING/);
    await assertViolates(sql, 4, /payments.outbox holds 1 unsent events/);
    await assertViolates(sql, 4, /PENDING payment .* never reached the account service/);
  });
  await withWorld(async (sql) => {
    await sql`delete from payments.outbox where topic = ${TOPICS.paymentInitiated}
      and id = (select min(id) from payments.outbox)`;
    await assertViolates(sql, 4, /has 0 payment.initiated events/);
  });
});

Deno.test("checkInvariants() reports invariant 5 when one key yields two payments or lost its unique index", async () => {
  await withWorld(async (sql) => {
    await sql`alter table payments.transactions drop constraint transactions_principal_idempotency_key_key`;
    const id = crypto.randomUUID();
    await sql`insert into payments.transactions (id, principal, idempotency_key, fingerprint, from_account, to_account,
        amount, currency, status, payer_owner_id, payee_owner_id)
      values (${id}, 'o1', ${`key-${P2}`}, ${FINGERPRINT}, ${A}, ${C}, 999999, 'EUR', 'FAILED', 'o1', 'o3')`;
    await assertViolates(sql, 5, /yields 2 payments/);
    await assertViolates(sql, 5, /payments.transactions has no unique index on \(principal, idempotency_key\)/);
  });
});

Deno.test("checkInvariants() reports invariant 6 without the guard trigger or when a status contradicts the events", async () => {
  await withWorld(async (sql) => {
    await sql`alter table payments.transactions disable trigger transactions_guard_update`;
    await assertViolates(sql, 6, /no enabled BEFORE UPDATE guard trigger/);
    // What a backwards move leaves behind: FAILED announced, COMPLETED recorded.
    await sql`update payments.transactions set status = 'COMPLETED' where id = ${P2}`;
    await assertViolates(sql, 6, /COMPLETED payment .*0002: not what account announced/);
  });
  await withWorld(async (sql) => {
    await sql`delete from accounts.outbox where topic = ${TOPICS.paymentCompleted}
      and event_id in (select event_id from notifications.deliveries where payment_id = ${P3})`;
    await assertViolates(sql, 6, /REFUNDED payment .*0003: a refund outcome without a completion/);
  });
  await withWorld(async (sql) => {
    await sql`alter table payments.refunds disable trigger refunds_guard_update`;
    await sql`update payments.refunds set status = 'PENDING'`;
    await assertViolates(sql, 6, /its refund is PENDING/);
    await assertViolates(sql, 4, /refund .* is still PENDING/);
  });
});

Deno.test("checkInvariants() reports a notice sent twice, a notice missing and one left in limbo", async () => {
  await withWorld(async (sql) => {
    await outbox(sql, "accounts", TOPICS.paymentFailed, { id: P2, from: A, to: C, amount: 999_999 }, ["payer"]);
    await assertViolates(sql, "notify", /0002 payment.failed payer: 2 notices/);
  });
  await withWorld(async (sql) => {
    await sql`delete from notifications.deliveries where payment_id = ${P1} and recipient = 'payee'`;
    await assertViolates(sql, "notify", /notices for \[payer\], want \[payee,payer\]/);
  });
  await withWorld(async (sql) => {
    await sql`update notifications.deliveries set status = 'sending' where payment_id = ${P2}`;
    await assertViolates(sql, "notify", /is still sending/);
  });
});
