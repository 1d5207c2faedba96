import assert from "node:assert/strict";
import { encodeEvent, eventHeaders, MAX_AMOUNT_MINOR, TOPICS } from "@securepay/shared";
import { parsePaymentRecord, type PaymentRecord } from "./records.ts";

const FROM = "11111111-1111-4111-8111-111111111111";
const TO = "22222222-2222-4222-8222-222222222222";
const PAYMENT = "33333333-3333-4333-8333-333333333333";
const EVENT = "44444444-4444-4444-8444-444444444444";
const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

function record(
  fields: Partial<Parameters<typeof encodeEvent<"payment.initiated">>[1]> = {},
  headers: Record<string, string | undefined> = {},
  topic: string = TOPICS.paymentInitiated,
): PaymentRecord {
  const message = {
    paymentId: PAYMENT,
    fromAccount: FROM,
    toAccount: TO,
    amount: 500,
    currency: "EUR",
    principal: "alice",
    initiatedAt: "2030-01-01T00:00:00Z",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
    ...fields,
  };
  const type = topic === TOPICS.refundInitiated ? TOPICS.refundInitiated : TOPICS.paymentInitiated;
  return {
    topic,
    value: encodeEvent(TOPICS.paymentInitiated, message),
    headers: {
      ...eventHeaders({ id: EVENT, type, source: "/securepay/payment-service", time: message.initiatedAt }),
      traceparent: TRACEPARENT,
      ...headers,
    },
  };
}

function problem(input: PaymentRecord): string {
  const parsed = parsePaymentRecord(input);
  assert.ok(!parsed.ok, "expected a problem");
  return parsed.problem;
}

Deno.test("parsePaymentRecord() turns a valid record into an event with lower-case ids and the trace context", () => {
  const parsed = parsePaymentRecord(record({ fromAccount: FROM.toUpperCase() }, { ce_id: EVENT.toUpperCase() }));
  assert.deepEqual(parsed, {
    ok: true,
    event: {
      eventId: EVENT,
      topic: TOPICS.paymentInitiated,
      paymentId: PAYMENT,
      fromAccount: FROM,
      toAccount: TO,
      amount: 500,
      currency: "EUR",
      payerOwnerId: "alice",
      payeeOwnerId: "bob",
      traceparent: TRACEPARENT,
    },
  });
  const refund = parsePaymentRecord(record({}, {}, TOPICS.refundInitiated));
  assert.ok(refund.ok && refund.event.topic === TOPICS.refundInitiated);
  const untraced = parsePaymentRecord(record({}, { traceparent: undefined }));
  assert.ok(untraced.ok && !("traceparent" in untraced.event));
});

Deno.test("parsePaymentRecord() names what is wrong with the headers, the topic or the payload", () => {
  assert.match(problem(record({}, { ce_id: "42" })), /ce_id must be a UUID/);
  assert.match(problem(record({}, { ce_type: TOPICS.paymentCompleted })), /ce_type must be the topic/);
  assert.match(problem(record({}, { ce_specversion: "0.3" })), /ce_specversion/);
  assert.match(problem(record({}, {}, TOPICS.paymentCompleted)), /not one account applies/);
  assert.match(problem({ ...record(), value: new Uint8Array([0xff, 0xff, 0xff]) }), /not a valid protobuf message/);
});

Deno.test("parsePaymentRecord() lists every invalid field at once", () => {
  const all = problem(record({
    paymentId: "p",
    fromAccount: "nope",
    toAccount: "",
    amount: 0,
    currency: "XXX",
    payerOwnerId: "",
    payeeOwnerId: " bob",
  }));
  for (
    const field of [
      "payment_id",
      "from_account",
      "to_account",
      "amount",
      "currency",
      "payer_owner_id",
      "payee_owner_id",
    ]
  ) {
    assert.match(all, new RegExp(`${field} `));
  }
  assert.match(problem(record({ amount: MAX_AMOUNT_MINOR + 1 })), /amount must be at most/);
  assert.match(problem(record({ toAccount: FROM.toUpperCase() })), /to_account must differ from from_account/);
});
