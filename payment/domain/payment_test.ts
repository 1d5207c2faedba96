import assert from "node:assert/strict";
import { MAX_AMOUNT_MINOR } from "@securepay/shared";
import {
  canTransition,
  type InitiatePaymentInput,
  initiatePaymentIssues,
  PAYMENT_STATUSES,
  requestFingerprint,
} from "./payment.ts";

const valid: InitiatePaymentInput = {
  principal: "alice",
  idempotencyKey: "key-1",
  fromAccount: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a01",
  toAccount: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a02",
  amountMinor: 1050,
  currency: "EUR",
  description: "rent",
};

const fieldsOf = (input: InitiatePaymentInput) => initiatePaymentIssues(input).map((i) => i.field);

Deno.test("initiatePaymentIssues() accepts a well-formed request", () => {
  assert.deepEqual(initiatePaymentIssues(valid), []);
  assert.deepEqual(initiatePaymentIssues({ ...valid, description: "" }), []);
  assert.deepEqual(initiatePaymentIssues({ ...valid, idempotencyKey: "k".repeat(255) }), []);
  assert.deepEqual(initiatePaymentIssues({ ...valid, amountMinor: MAX_AMOUNT_MINOR }), []);
});

Deno.test("initiatePaymentIssues() names each bad field", () => {
  const cases: [Partial<InitiatePaymentInput>, string][] = [
    [{ principal: "" }, "principal.subject"],
    [{ principal: "p".repeat(256) }, "principal.subject"],
    [{ idempotencyKey: "" }, "idempotency_key"],
    [{ idempotencyKey: "k".repeat(256) }, "idempotency_key"],
    [{ idempotencyKey: "naïve" }, "idempotency_key"],
    [{ idempotencyKey: "tab\there" }, "idempotency_key"],
    [{ fromAccount: "not-a-uuid" }, "from_account"],
    [{ toAccount: "" }, "to_account"],
    [{ toAccount: valid.fromAccount.toUpperCase() }, "to_account"],
    [{ amountMinor: 0 }, "amount"],
    [{ amountMinor: -5 }, "amount"],
    [{ amountMinor: 10.5 }, "amount"],
    [{ amountMinor: MAX_AMOUNT_MINOR + 1 }, "amount"],
    [{ currency: "XXX" }, "currency"],
    [{ currency: "eur" }, "currency"],
    [{ description: "d".repeat(501) }, "description"],
  ];
  for (const [change, field] of cases) {
    assert.deepEqual(fieldsOf({ ...valid, ...change }), [field], JSON.stringify(change));
  }
});

Deno.test("initiatePaymentIssues() reports every problem at once", () => {
  const fields = fieldsOf({ ...valid, principal: "", amountMinor: 0, currency: "", fromAccount: "x" });
  assert.deepEqual(fields, ["principal.subject", "from_account", "amount", "currency"]);
});

Deno.test("initiatePaymentIssues() counts description characters, not UTF-16 units", () => {
  assert.deepEqual(fieldsOf({ ...valid, description: "💶".repeat(500) }), []);
  assert.deepEqual(fieldsOf({ ...valid, description: "💶".repeat(501) }), ["description"]);
});

Deno.test("requestFingerprint() is the same for the same request and differs for another", async () => {
  const a = await requestFingerprint(valid);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(await requestFingerprint({ ...valid, fromAccount: valid.fromAccount.toUpperCase() }), a);
  // The key and the principal scope a request; they are not part of what it asks for.
  assert.equal(await requestFingerprint({ ...valid, idempotencyKey: "other" }), a);
  assert.equal(
    await requestFingerprint({ ...valid, description: "" }),
    await requestFingerprint({
      ...valid,
      description: null,
    }),
  );
  for (
    const change of [
      { amountMinor: 1051 },
      { currency: "USD" },
      { description: "other" },
      { toAccount: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a03" },
    ]
  ) {
    assert.notEqual(await requestFingerprint({ ...valid, ...change }), a, JSON.stringify(change));
  }
});

Deno.test("canTransition() allows only forward moves", () => {
  const allowed = new Set(["PENDING>COMPLETED", "PENDING>FAILED", "COMPLETED>REFUNDED"]);
  for (const from of PAYMENT_STATUSES) {
    for (const to of PAYMENT_STATUSES) {
      assert.equal(canTransition(from, to), allowed.has(`${from}>${to}`), `${from} -> ${to}`);
    }
  }
});
