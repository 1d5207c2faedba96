/**
 * GetPayment and ListPayments over gRPC on payments accepted through
 * InitiatePayment (real account program, fresh database): filters by owner,
 * account and status, and keyset pages newest first.
 */

import assert from "node:assert/strict";
import { isCheckViolation } from "@securepay/shared";
import { type Payment, PaymentStatus } from "@securepay/shared/gen/payment";
import { failsWith, type Stack, startStack } from "./_stack.ts";

async function allPages(stack: Stack, request: Parameters<Stack["list"]>[0]): Promise<Payment[]> {
  const payments: Payment[] = [];
  let cursor = "";
  for (let page = 0; page < 50; page++) {
    const response = await stack.list({ ...request, cursor });
    payments.push(...response.payments);
    if (response.nextCursor === "") return payments;
    assert.ok(response.payments.length > 0, "a page with a next cursor is never empty");
    cursor = response.nextCursor;
  }
  throw new Error("Cannot finish paging as it did not end within 50 pages");
}

Deno.test("GetPayment returns a stored payment and answers not_found or validation_error otherwise", async () => {
  await using stack = await startStack();
  const alice = await stack.openAccount("alice", "EUR", 1_000);
  const bob = await stack.openAccount("bob", "EUR");
  const { payment } = await stack.initiate({ fromAccount: alice.id, toAccount: bob.id, amount: 10 });
  assert.deepEqual((await stack.get(payment!.id)).payment, payment);
  assert.deepEqual((await stack.get(payment!.id.toUpperCase())).payment, payment);
  await failsWith(stack.get(crypto.randomUUID()), "not_found");
  await failsWith(stack.get("nope"), "validation_error");
  await failsWith(stack.get(""), "validation_error");
});

Deno.test("ListPayments filters by owner, account and status and pages newest first", async () => {
  await using stack = await startStack();
  const alice = await stack.openAccount("alice", "EUR", 100_000);
  const bob = await stack.openAccount("bob", "EUR", 100_000);
  const carol = await stack.openAccount("carol", "EUR");
  const made: Payment[] = [];
  for (let i = 0; i < 5; i++) {
    made.push((await stack.initiate({ fromAccount: alice.id, toAccount: bob.id, amount: 100 + i })).payment!);
    made.push(
      (await stack.initiate({
        principal: { subject: "bob", roles: ["USER"] },
        fromAccount: bob.id,
        toAccount: carol.id,
        amount: 200 + i,
      })).payment!,
    );
  }
  const newestFirst = (ps: Payment[]) =>
    [...ps].sort((a, b) =>
      a.createdAt === b.createdAt ? b.id.localeCompare(a.id) : b.createdAt.localeCompare(a.createdAt)
    )
      .map((p) => p.id);
  const ids = (ps: Payment[]) => ps.map((p) => p.id);

  assert.deepEqual(ids(await allPages(stack, { limit: 3 })), newestFirst(made));
  assert.deepEqual(
    ids(await allPages(stack, { limit: 1, ownerId: "alice" })),
    newestFirst(made.filter((_, i) => i % 2 === 0)),
  );
  assert.deepEqual(ids(await allPages(stack, { limit: 4, ownerId: "bob" })), newestFirst(made));
  assert.deepEqual(ids(await allPages(stack, { ownerId: "carol" })), newestFirst(made.filter((_, i) => i % 2 === 1)));
  assert.deepEqual(
    ids(await allPages(stack, { accountId: alice.id })),
    newestFirst(made.filter((_, i) => i % 2 === 0)),
  );
  assert.deepEqual(ids(await allPages(stack, { accountId: carol.id, ownerId: "alice" })), []);
  assert.deepEqual(await allPages(stack, { ownerId: "nobody" }), []);

  // Another issue's consumer settles payments; here the table is moved directly.
  const sql = stack.database.db.sql;
  await sql`update payments.transactions set status = 'COMPLETED' where id = ${made[0]!.id}`;
  await sql`update payments.transactions set status = 'FAILED', failure_reason = 'insufficient_funds'
            where id = ${made[1]!.id}`;
  const completed = await allPages(stack, { status: PaymentStatus.PAYMENT_STATUS_COMPLETED });
  assert.deepEqual(ids(completed), [made[0]!.id]);
  assert.equal(completed[0]!.status, PaymentStatus.PAYMENT_STATUS_COMPLETED);
  const failed = await allPages(stack, { status: PaymentStatus.PAYMENT_STATUS_FAILED, ownerId: "carol" });
  assert.deepEqual(ids(failed), [made[1]!.id]);
  assert.equal(failed[0]!.failureReason, "insufficient_funds");
  assert.equal((await allPages(stack, { status: PaymentStatus.PAYMENT_STATUS_PENDING })).length, 8);

  // A settled payment never goes back, whoever tries.
  await assert.rejects(
    sql`update payments.transactions set status = 'PENDING' where id = ${made[0]!.id}`,
    (e) => isCheckViolation(e, "transactions_status_transition"),
  );
  await assert.rejects(
    sql`update payments.transactions set status = 'COMPLETED' where id = ${made[1]!.id}`,
    (e) => isCheckViolation(e, "transactions_status_transition"),
  );

  // Page sizes are clamped to 100; the first page of 1 has a cursor.
  assert.equal((await stack.list({ limit: 1000 })).payments.length, 10);
  const first = await stack.list({ limit: 1 });
  assert.equal(first.payments.length, 1);
  assert.notEqual(first.nextCursor, "");
  assert.equal((await stack.list({})).nextCursor, "");
});

Deno.test("ListPayments answers validation_error for a bad account id, cursor, limit or status", async () => {
  await using stack = await startStack();
  await failsWith(stack.list({ accountId: "nope" }), "validation_error");
  await failsWith(stack.list({ cursor: "garbage!" }), "validation_error");
  await failsWith(stack.list({ limit: -1 }), "validation_error");
  await failsWith(stack.list({ status: 42 as PaymentStatus }), "validation_error");
});
