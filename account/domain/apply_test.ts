import assert from "node:assert/strict";
import { MAX_SAFE_MINOR } from "@securepay/shared";
import { type AccountSnapshot, type Booking, type PaymentEvent, planBatch } from "./apply.ts";

const A = "00000000-0000-4000-8000-00000000000a";
const B = "00000000-0000-4000-8000-00000000000b";
const C = "00000000-0000-4000-8000-00000000000c";

function account(id: string, balance: number, extra: Partial<AccountSnapshot> = {}): AccountSnapshot {
  return { id, currency: "EUR", balance, version: 4, status: "OPEN", ...extra };
}

function accounts(...list: AccountSnapshot[]): Map<string, AccountSnapshot> {
  return new Map(list.map((a) => [a.id, a]));
}

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
    ...extra,
  };
}

function refundOf(event: PaymentEvent, extra: Partial<PaymentEvent> = {}): PaymentEvent {
  return { ...event, eventId: crypto.randomUUID(), topic: "payment.refund.initiated", ...extra };
}

function bookingOf(event: PaymentEvent): Map<string, Booking> {
  const { paymentId, fromAccount, toAccount, amount, currency } = event;
  return new Map([[paymentId, { paymentId, fromAccount, toAccount, amount, currency }]]);
}

Deno.test("planBatch() moves the amount with a DEBIT and a CREDIT entry and bumps each version once", () => {
  const event = payment(A, B, 300);
  const plan = planBatch([event], accounts(account(A, 1000), account(B, 5)), new Map());
  assert.deepEqual(plan.outcomes, [{ event, applied: true }]);
  assert.deepEqual(plan.changes.map((c) => [c.before.id, c.balance, c.changes]), [[A, 700, 1], [B, 305, 1]]);
  assert.deepEqual(plan.entries, [
    { accountId: A, amount: -300, currency: "EUR", kind: "DEBIT", paymentId: event.paymentId, balanceAfter: 700 },
    { accountId: B, amount: 300, currency: "EUR", kind: "CREDIT", paymentId: event.paymentId, balanceAfter: 305 },
  ]);
});

Deno.test("planBatch() applies events in order, each one seeing the balances the earlier ones left", () => {
  const first = payment(A, B, 600);
  const second = payment(A, C, 600); // only 400 left
  const third = payment(B, A, 100);
  const fourth = payment(A, C, 500); // 400 + 100 = 500: exactly enough
  const plan = planBatch(
    [first, second, third, fourth],
    accounts(account(A, 1000), account(B, 0), account(C, 0)),
    new Map(),
  );
  assert.deepEqual(plan.outcomes.map((o) => o.applied ? "applied" : o.reason), [
    "applied",
    "insufficient_funds",
    "applied",
    "applied",
  ]);
  assert.deepEqual(plan.changes.map((c) => [c.before.id, c.balance, c.changes]), [[A, 0, 3], [B, 500, 2], [C, 500, 1]]);
  assert.deepEqual(plan.entries.map((e) => e.balanceAfter), [400, 600, 500, 500, 0, 500]);
});

Deno.test("planBatch() refuses with the reason and moves nothing for missing, foreign, closed or poor accounts", () => {
  const cases: [AccountSnapshot[], PaymentEvent, string][] = [
    [[account(A, 1000)], payment(A, B, 1), "account_not_found"],
    [[account(B, 1000)], payment(A, B, 1), "account_not_found"],
    [[account(A, 1000, { currency: "USD" }), account(B, 0)], payment(A, B, 1), "currency_mismatch"],
    [[account(A, 1000), account(B, 0, { currency: "USD" })], payment(A, B, 1), "currency_mismatch"],
    [[account(A, 1000, { status: "CLOSED" }), account(B, 0)], payment(A, B, 1), "account_closed"],
    [[account(A, 1000), account(B, 0, { status: "CLOSED" })], payment(A, B, 1), "account_closed"],
    [[account(A, 99), account(B, 0)], payment(A, B, 100), "insufficient_funds"],
    [[account(A, 100), account(B, MAX_SAFE_MINOR - 99)], payment(A, B, 100), "balance_limit_exceeded"],
  ];
  for (const [list, event, reason] of cases) {
    const plan = planBatch([event], accounts(...list), new Map());
    assert.deepEqual(plan.outcomes, [{ event, applied: false, reason }]);
    assert.deepEqual(plan.changes, []);
    assert.deepEqual(plan.entries, []);
  }
});

Deno.test("planBatch() reverses a booked payment with REFUND_DEBIT on the payee and REFUND_CREDIT on the payer", () => {
  const original = payment(A, B, 250);
  const refund = refundOf(original);
  const plan = planBatch([refund], accounts(account(A, 0), account(B, 250)), bookingOf(original));
  assert.deepEqual(plan.outcomes, [{ event: refund, applied: true }]);
  assert.deepEqual(plan.entries, [
    {
      accountId: B,
      amount: -250,
      currency: "EUR",
      kind: "REFUND_DEBIT",
      paymentId: original.paymentId,
      balanceAfter: 0,
    },
    {
      accountId: A,
      amount: 250,
      currency: "EUR",
      kind: "REFUND_CREDIT",
      paymentId: original.paymentId,
      balanceAfter: 250,
    },
  ]);
});

Deno.test("planBatch() refuses a refund the payee cannot pay, of an unapplied payment, or that differs from it", () => {
  const original = payment(A, B, 250);
  const poorPayee = planBatch([refundOf(original)], accounts(account(A, 0), account(B, 249)), bookingOf(original));
  assert.deepEqual(poorPayee.outcomes.map((o) => !o.applied && o.reason), ["insufficient_funds"]);
  const unknown = planBatch([refundOf(original)], accounts(account(A, 0), account(B, 250)), new Map());
  assert.deepEqual(unknown.outcomes.map((o) => !o.applied && o.reason), ["payment_not_applied"]);
  const larger = planBatch(
    [refundOf(original, { amount: 251 })],
    accounts(account(A, 0), account(B, 1000)),
    bookingOf(original),
  );
  assert.deepEqual(larger.outcomes.map((o) => !o.applied && o.reason), ["payment_mismatch"]);
  assert.deepEqual([...poorPayee.entries, ...unknown.entries, ...larger.entries], []);
});

Deno.test("planBatch() lets a refund reverse a payment applied earlier in the same batch, but not a refused one", () => {
  const applied = payment(A, B, 100);
  const refused = payment(A, B, 5000);
  const plan = planBatch(
    [applied, refused, refundOf(applied), refundOf(refused)],
    accounts(account(A, 100), account(B, 0)),
    new Map(),
  );
  assert.deepEqual(plan.outcomes.map((o) => o.applied ? "applied" : o.reason), [
    "applied",
    "insufficient_funds",
    "applied",
    "payment_not_applied",
  ]);
  assert.deepEqual(plan.changes.map((c) => [c.before.id, c.balance, c.changes]), [[A, 100, 2], [B, 0, 2]]);
});

Deno.test("planBatch() lists changed accounts in ascending id order whatever the event order", () => {
  const plan = planBatch(
    [payment(C, B, 1), payment(B, A, 1)],
    accounts(account(A, 10), account(B, 10), account(C, 10)),
    new Map(),
  );
  assert.deepEqual(plan.changes.map((c) => c.before.id), [A, B, C]);
});
