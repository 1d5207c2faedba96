/**
 * InitiatePayment end to end over gRPC: the payment service in-process, the
 * real account program as a child process on the same fresh database. Each
 * test proves what is stored (or that nothing is) by reading the tables.
 */

import assert from "node:assert/strict";
import { Metadata, status as GrpcStatus } from "@grpc/grpc-js";
import { type AppError, callUnary, MAX_AMOUNT_MINOR } from "@securepay/shared";
import type { AccountServiceClient, GetAccountRequest, GetAccountResponse } from "@securepay/shared/gen/account";
import { PaymentInitiated } from "@securepay/shared/gen/events";
import { PaymentStatus } from "@securepay/shared/gen/payment";
import { failsWith, startStack } from "./_stack.ts";

Deno.test("InitiatePayment stores a PENDING payment and exactly one payment.initiated outbox row", async () => {
  await using stack = await startStack();
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const metadata = new Metadata();
  metadata.set("traceparent", traceparent);
  const response = await callUnary(stack.paymentClient, stack.paymentClient.initiatePayment, {
    principal: { subject: "alice", roles: ["USER"] },
    idempotencyKey: "pay-1",
    fromAccount: from.id,
    toAccount: to.id,
    amount: 1050,
    currency: "EUR",
    description: "rent",
  }, { metadata });

  const payment = response.payment!;
  assert.equal(response.replayed, false);
  assert.equal(payment.status, PaymentStatus.PAYMENT_STATUS_PENDING);
  assert.deepEqual(
    [payment.fromAccount, payment.toAccount, payment.amount, payment.currency, payment.description],
    [from.id, to.id, 1050, "EUR", "rent"],
  );
  assert.equal(payment.payerOwnerId, "alice");
  assert.equal(payment.payeeOwnerId, "bob");
  assert.equal(payment.failureReason, "");
  assert.equal(payment.createdAt, payment.updatedAt);

  const sql = stack.database.db.sql;
  const [row] = await sql`select * from payments.transactions`;
  assert.equal(row!.id, payment.id);
  assert.equal(row!.status, "PENDING");
  assert.equal(row!.principal, "alice");
  assert.equal(row!.idempotency_key, "pay-1");
  assert.match(row!.fingerprint, /^[0-9a-f]{64}$/);

  const outbox = await sql`select * from payments.outbox`;
  assert.equal(outbox.length, 1);
  const event = outbox[0]!;
  assert.equal(event.topic, "payment.initiated");
  assert.equal(event.event_type, "payment.initiated");
  assert.equal(event.key, from.id);
  assert.equal(event.sent_at, null);
  assert.deepEqual(PaymentInitiated.decode(event.payload), {
    paymentId: payment.id,
    fromAccount: from.id,
    toAccount: to.id,
    amount: 1050,
    currency: "EUR",
    principal: "alice",
    initiatedAt: payment.createdAt,
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
  });
  assert.deepEqual(event.headers, {
    ce_id: event.event_id,
    ce_type: "payment.initiated",
    ce_source: "/securepay/payment-service",
    ce_specversion: "1.0",
    ce_time: payment.createdAt,
    "content-type": "application/protobuf",
    traceparent,
  });
  // The row and its event were written by one transaction.
  const [together] = await sql`
    select t.xmin::text = o.xmin::text as same from payments.transactions t, payments.outbox o`;
  assert.equal(together!.same, true);
  // Accepting a payment moves no money yet: that is the account service's job once the event arrives.
  const accounts = stack.accountClient!;
  const payer = await callUnary<AccountServiceClient, GetAccountRequest, GetAccountResponse>(
    accounts,
    accounts.getAccount,
    { id: from.id },
  );
  assert.equal(payer.account!.balance, 10_000);
});

Deno.test("InitiatePayment replays a repeated key and refuses the key for a different request", async () => {
  await using stack = await startStack();
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const request = { idempotencyKey: "pay-1", fromAccount: from.id, toAccount: to.id, amount: 500 };
  const first = await stack.initiate(request);
  const again = await stack.initiate(request);
  assert.equal(again.replayed, true);
  assert.deepEqual(again.payment, first.payment);

  const reused = await failsWith(stack.initiate({ ...request, amount: 501 }), "idempotency_key_reused");
  assert.equal((reused.cause as { code: number }).code, GrpcStatus.FAILED_PRECONDITION);
  await failsWith(stack.initiate({ ...request, description: "other" }), "idempotency_key_reused");
  assert.deepEqual(await stack.counts(), { transactions: 1, outbox: 1 });
  assert.equal(stack.payment.metrics.render().includes('payments_initiated_total{currency="EUR"} 1'), true);
});

Deno.test("InitiatePayment with one key sent 50 times at once makes one payment and one event", async () => {
  await using stack = await startStack();
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const request = { idempotencyKey: "burst", fromAccount: from.id, toAccount: to.id, amount: 100 };
  const results = await Promise.allSettled(Array.from({ length: 50 }, () => stack.initiate(request)));
  const answered = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  // The others met the first while it ran: 409 idempotency_key_in_use, and nothing else.
  for (const r of results) {
    if (r.status === "rejected") assert.equal((r.reason as AppError).code, "idempotency_key_in_use");
  }
  assert.equal(answered.filter((r) => !r.replayed).length, 1);
  assert.equal(new Set(answered.map((r) => r.payment!.id)).size, 1);
  assert.deepEqual(await stack.counts(), { transactions: 1, outbox: 1 });
});

Deno.test("InitiatePayment refuses what the accounts cannot carry and stores nothing", async () => {
  await using stack = await startStack();
  const alice = await stack.openAccount("alice", "EUR", 1_000);
  const bob = await stack.openAccount("bob", "EUR");
  const dollars = await stack.openAccount("bob", "USD");
  const unknown = crypto.randomUUID();

  const insufficient = await failsWith(
    stack.initiate({ fromAccount: alice.id, toAccount: bob.id, amount: 1_001 }),
    "insufficient_funds",
  );
  assert.equal((insufficient.cause as { code: number }).code, GrpcStatus.FAILED_PRECONDITION);
  // The payer's account is in EUR: paying in USD is a mismatch on the payer's side.
  await failsWith(
    stack.initiate({ fromAccount: alice.id, toAccount: dollars.id, amount: 10, currency: "USD" }),
    "currency_mismatch",
  );
  // The payee's account is in USD: paying EUR into it is a mismatch on the payee's side.
  await failsWith(stack.initiate({ fromAccount: alice.id, toAccount: dollars.id, amount: 10 }), "currency_mismatch");
  const from = await failsWith(stack.initiate({ fromAccount: unknown, toAccount: bob.id, amount: 10 }), "not_found");
  assert.match(from.message, /from_account/);
  const to = await failsWith(stack.initiate({ fromAccount: alice.id, toAccount: unknown, amount: 10 }), "not_found");
  assert.match(to.message, /to_account/);
  assert.equal((to.cause as { code: number }).code, GrpcStatus.NOT_FOUND);

  assert.deepEqual(await stack.counts(), { transactions: 0, outbox: 0 });
  // The exact balance is still payable.
  await stack.initiate({ fromAccount: alice.id, toAccount: bob.id, amount: 1_000 });
  assert.deepEqual(await stack.counts(), { transactions: 1, outbox: 1 });
});

Deno.test("InitiatePayment answers validation_error for malformed requests and stores nothing", async () => {
  await using stack = await startStack();
  const alice = await stack.openAccount("alice", "EUR", 1_000);
  const bob = await stack.openAccount("bob", "EUR");
  const ok = { fromAccount: alice.id, toAccount: bob.id, amount: 10 };
  const cases: [string, Parameters<typeof stack.initiate>[0]][] = [
    ["same from and to", { ...ok, toAccount: alice.id }],
    ["amount 0", { ...ok, amount: 0 }],
    ["negative amount", { ...ok, amount: -10 }],
    ["amount above the maximum", { ...ok, amount: MAX_AMOUNT_MINOR + 1 }],
    ["bad from uuid", { ...ok, fromAccount: "not-a-uuid" }],
    ["bad to uuid", { ...ok, toAccount: "" }],
    ["unknown currency", { ...ok, currency: "XYZ" }],
    ["empty key", { ...ok, idempotencyKey: "" }],
    ["key over 255 characters", { ...ok, idempotencyKey: "k".repeat(256) }],
    ["key with non-ASCII", { ...ok, idempotencyKey: "clé" }],
    ["description over 500 characters", { ...ok, description: "d".repeat(501) }],
    ["no principal", { ...ok, principal: undefined }],
  ];
  for (const [name, request] of cases) {
    const error = await failsWith(stack.initiate(request), "validation_error").catch((e) => {
      throw new Error(`${name}: ${e.message}`, { cause: e });
    });
    assert.equal((error.cause as { code: number }).code, GrpcStatus.INVALID_ARGUMENT, name);
    assert.ok(error.issues.length > 0, name);
  }
  assert.deepEqual(await stack.counts(), { transactions: 0, outbox: 0 });
});
