import assert from "node:assert/strict";
import { encodeEvent, eventHeaders, TOPICS } from "@securepay/shared";
import { InvalidEventError } from "../domain/notification.ts";
import { parsePaymentEvent, type RecordLike } from "./record.ts";

const ID = "44444444-4444-4444-8444-444444444444";
const PAYMENT = "33333333-3333-4333-8333-333333333333";
const FROM = "11111111-1111-4111-8111-111111111111";
const TO = "22222222-2222-4222-8222-222222222222";

function completed(overrides: Record<string, unknown> = {}): RecordLike {
  return {
    topic: TOPICS.paymentCompleted,
    headers: {
      ...eventHeaders({ id: ID, type: TOPICS.paymentCompleted, source: "/account", time: "2026-01-02T03:04:05Z" }),
    },
    value: encodeEvent(TOPICS.paymentCompleted, {
      paymentId: PAYMENT,
      fromAccount: FROM,
      toAccount: TO,
      amount: 1050,
      currency: "EUR",
      completedAt: "2026-01-02T03:04:06Z",
      payerOwnerId: "alice",
      payeeOwnerId: "bob",
      ...overrides,
    }),
  };
}

Deno.test("parsePaymentEvent() reads a completed payment with its headers", () => {
  assert.deepEqual(parsePaymentEvent(completed()), {
    id: ID,
    type: "payment.completed",
    paymentId: PAYMENT,
    fromAccount: FROM,
    toAccount: TO,
    amountMinor: 1050,
    currency: "EUR",
    reason: "",
    occurredAt: "2026-01-02T03:04:06.000Z",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
  });
});

Deno.test("parsePaymentEvent() accepts a failed payment without the payee's owner, whom it does not notify", () => {
  const event = parsePaymentEvent({
    topic: TOPICS.paymentFailed,
    headers: {
      ...eventHeaders({ id: ID, type: TOPICS.paymentFailed, source: "/account", time: "2026-01-02T03:04:05Z" }),
    },
    value: encodeEvent(TOPICS.paymentFailed, {
      paymentId: PAYMENT,
      fromAccount: FROM,
      toAccount: TO,
      amount: 7,
      currency: "JPY",
      reason: "insufficient_funds",
      failedAt: "",
      payerOwnerId: "alice",
      payeeOwnerId: "",
    }),
  });
  assert.equal(event.reason, "insufficient_funds");
  assert.equal(event.occurredAt, "2026-01-02T03:04:05.000Z");
});

Deno.test("parsePaymentEvent() refuses bad headers, payloads and fields with InvalidEventError", () => {
  const good = completed();
  const cases: [string, RecordLike][] = [
    ["ce_id", { ...good, headers: { ...good.headers, ce_id: "nope" } }],
    ["ce_type", { ...good, headers: { ...good.headers, ce_type: "payment.failed" } }],
    ["content-type", { ...good, headers: { ...good.headers, "content-type": "application/json" } }],
    ["not a payment.completed message", { ...good, value: new Uint8Array([0xff, 0xff, 0xff, 0xff]) }],
    ["payment_id", completed({ paymentId: "x" })],
    ["amount", completed({ amount: 0 })],
    ["currency", completed({ currency: "XXX" })],
    ["payee_owner_id", completed({ payeeOwnerId: "" })],
    ["payer_owner_id", completed({ payerOwnerId: "a\nb" })],
    ["not notified", { ...good, topic: TOPICS.paymentInitiated }],
  ];
  for (const [problem, record] of cases) {
    assert.throws(() => parsePaymentEvent(record), (error: Error) => {
      assert.ok(error instanceof InvalidEventError, problem);
      assert.match(error.message, /^Cannot notify as the event is invalid: /);
      assert.ok(error.message.includes(problem), `${problem}: ${error.message}`);
      return true;
    });
  }
});
