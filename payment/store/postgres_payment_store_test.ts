import assert from "node:assert/strict";
import { isCheckViolation } from "@securepay/shared";
import { PaymentInitiated } from "@securepay/shared/gen/events";
import { paymentInitiatedMessage } from "../domain/events.ts";
import type { Payment, StoredPayment } from "../domain/payment.ts";
import { createPaymentDatabase } from "../tests/_database.ts";
import { postgresPaymentStore } from "./postgres_payment_store.ts";

function row(overrides: Partial<Payment> = {}, key: string = crypto.randomUUID()): StoredPayment {
  const createdAt = overrides.createdAt ?? new Date().toISOString();
  return {
    payment: {
      id: crypto.randomUUID(),
      fromAccount: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a01",
      toAccount: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a02",
      amountMinor: 100,
      currency: "EUR",
      description: null,
      status: "PENDING",
      failureReason: null,
      refundStatus: null,
      payerOwnerId: "alice",
      payeeOwnerId: "bob",
      createdAt,
      updatedAt: createdAt,
      ...overrides,
    },
    principal: "alice",
    idempotencyKey: key,
    fingerprint: "a".repeat(64),
  };
}

const messageOf = (r: StoredPayment) =>
  paymentInitiatedMessage(r.payment, { principal: r.principal, eventId: crypto.randomUUID() });

Deno.test("insertWithOutbox() stores the payment and its event together, and reads them back", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const r = row({ description: "rent" });
  const message = messageOf(r);
  assert.equal(await store.insertWithOutbox(r, message), true);

  assert.deepEqual(await store.findById(r.payment.id), r.payment);
  assert.deepEqual(await store.findByIdempotencyKey("alice", r.idempotencyKey), r);
  assert.equal(await store.findByIdempotencyKey("bob", r.idempotencyKey), undefined);
  assert.equal(await store.findById(crypto.randomUUID()), undefined);

  const outbox = await database.db.sql`select * from payments.outbox`;
  assert.equal(outbox.length, 1);
  assert.equal(outbox[0]!.key, r.payment.fromAccount);
  assert.equal(outbox[0]!.event_id, message.eventId);
  assert.equal(outbox[0]!.sent_at, null);
  assert.deepEqual(outbox[0]!.headers, message.headers);
  assert.equal(PaymentInitiated.decode(outbox[0]!.payload).paymentId, r.payment.id);
});

Deno.test("insertWithOutbox() stores nothing when the (principal, key) is taken", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const first = row({}, "same-key");
  assert.equal(await store.insertWithOutbox(first, messageOf(first)), true);
  const second = row({ amountMinor: 999 }, "same-key");
  assert.equal(await store.insertWithOutbox(second, messageOf(second)), false);
  const [counts] = await database.db.sql`
    select (select count(*) from payments.transactions) as transactions,
           (select count(*) from payments.outbox) as outbox`;
  assert.deepEqual({ ...counts }, { transactions: 1, outbox: 1 });
  // Another principal may use the same key.
  const other = { ...row({}, "same-key"), principal: "bob" };
  assert.equal(await store.insertWithOutbox(other, messageOf(other)), true);
});

Deno.test("list() filters by owner, account and status, newest first, page by page", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const a1 = "00000000-0000-4000-8000-000000000001";
  const a2 = "00000000-0000-4000-8000-000000000002";
  const a3 = "00000000-0000-4000-8000-000000000003";
  const base = Date.parse("2025-01-01T00:00:00Z");
  const rows: StoredPayment[] = [];
  for (let i = 0; i < 7; i++) {
    const toCarol = i % 2 === 1;
    rows.push(row({
      fromAccount: a1,
      toAccount: toCarol ? a3 : a2,
      payeeOwnerId: toCarol ? "carol" : "bob",
      // Two payments share each timestamp so that the id breaks ties.
      createdAt: new Date(base + Math.floor(i / 2) * 1000).toISOString(),
    }));
  }
  for (const r of rows) assert.ok(await store.insertWithOutbox(r, messageOf(r)));
  await database.db.sql`update payments.transactions set status = 'COMPLETED' where id = ${rows[0]!.payment.id}`;

  const newestFirst = [...rows].sort((x, y) =>
    x.payment.createdAt === y.payment.createdAt
      ? (x.payment.id < y.payment.id ? 1 : -1)
      : (x.payment.createdAt < y.payment.createdAt ? 1 : -1)
  ).map((r) => r.payment.id);

  const seen: string[] = [];
  let after;
  for (let pages = 0; pages < 10; pages++) {
    const page = await store.list({ limit: 3, after });
    seen.push(...page.payments.map((p) => p.id));
    after = page.next;
    if (!after) break;
  }
  assert.deepEqual(seen, newestFirst);

  const ids = async (query: Parameters<typeof store.list>[0]) => (await store.list(query)).payments.map((p) => p.id);
  const carols = new Set(rows.filter((r) => r.payment.payeeOwnerId === "carol").map((r) => r.payment.id));
  assert.equal(carols.size, 3);
  assert.deepEqual(await ids({ limit: 100, ownerId: "carol" }), newestFirst.filter((id) => carols.has(id)));
  assert.equal((await ids({ limit: 100, ownerId: "alice" })).length, 7);
  assert.deepEqual(await ids({ limit: 100, ownerId: "nobody" }), []);
  assert.equal((await ids({ limit: 100, accountId: a2 })).length, 4);
  assert.equal((await ids({ limit: 100, accountId: a1 })).length, 7);
  assert.deepEqual(await ids({ limit: 100, status: "COMPLETED" }), [rows[0]!.payment.id]);
  assert.deepEqual(await ids({ limit: 100, status: "COMPLETED", ownerId: "carol" }), []);
  const full = await store.list({ limit: 7 });
  assert.equal(full.payments.length, 7);
  assert.equal(full.next, undefined);
});

Deno.test("the transactions table lets a status move only forward (invariant 6)", async () => {
  await using database = await createPaymentDatabase();
  const sql = database.db.sql;
  const store = postgresPaymentStore(sql);
  const insert = async () => {
    const r = row();
    await store.insertWithOutbox(r, messageOf(r));
    return r.payment.id;
  };
  const move = (id: string, status: string) =>
    sql`update payments.transactions set status = ${status} where id = ${id}`;
  const rejected = async (id: string, status: string) => {
    await assert.rejects(move(id, status), (e) => isCheckViolation(e, "transactions_status_transition"));
  };

  const refunded = await insert();
  await move(refunded, "COMPLETED");
  await rejected(refunded, "PENDING");
  await rejected(refunded, "FAILED");
  await move(refunded, "REFUNDED");
  for (const back of ["PENDING", "COMPLETED", "FAILED"]) await rejected(refunded, back);

  const failed = await insert();
  await rejected(failed, "REFUNDED");
  await move(failed, "FAILED");
  for (const back of ["PENDING", "COMPLETED", "REFUNDED"]) await rejected(failed, back);

  // Writing the same status again is not a move, and bumps updated_at.
  const [before] = await sql`select updated_at from payments.transactions where id = ${failed}`;
  await move(failed, "FAILED");
  const [after] = await sql`select status, updated_at from payments.transactions where id = ${failed}`;
  assert.equal(after!.status, "FAILED");
  assert.ok(after!.updated_at >= before!.updated_at);
});

Deno.test("the transactions table refuses to change what was accepted", async () => {
  await using database = await createPaymentDatabase();
  const sql = database.db.sql;
  const r = row();
  await postgresPaymentStore(sql).insertWithOutbox(r, messageOf(r));
  await assert.rejects(
    sql`update payments.transactions set amount = 1 where id = ${r.payment.id}`,
    (e) => isCheckViolation(e, "transactions_immutable"),
  );
  await assert.rejects(
    sql`update payments.transactions set to_account = gen_random_uuid() where id = ${r.payment.id}`,
    (e) => isCheckViolation(e, "transactions_immutable"),
  );
});

Deno.test("the transactions table rejects amounts that are not positive", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  for (const amountMinor of [0, -1]) {
    const r = row({ amountMinor });
    await assert.rejects(store.insertWithOutbox(r, messageOf(r)), (e) => isCheckViolation(e));
  }
  const [{ count }] = await database.db.sql`select count(*) from payments.outbox` as unknown as [{ count: number }];
  assert.equal(count, 0);
});
