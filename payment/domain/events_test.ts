import assert from "node:assert/strict";
import { PaymentInitiated } from "@securepay/shared/gen/events";
import { paymentInitiatedMessage } from "./events.ts";
import type { Payment } from "./payment.ts";

const payment: Payment = {
  id: "0b7e7f7a-7a0e-4c58-8a9a-6b8f4f3e2d10",
  fromAccount: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a01",
  toAccount: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a02",
  amountMinor: 1050,
  currency: "EUR",
  description: null,
  status: "PENDING",
  failureReason: null,
  refundStatus: null,
  payerOwnerId: "alice",
  payeeOwnerId: "bob",
  createdAt: "2025-01-02T03:04:05.678Z",
  updatedAt: "2025-01-02T03:04:05.678Z",
};

Deno.test("paymentInitiatedMessage() carries the payment as protobuf, keyed by the payer account", () => {
  const eventId = "5f0c8e0e-54a1-4f8e-9d7c-1f2e3d4c5b6a";
  const message = paymentInitiatedMessage(payment, { principal: "alice", eventId });
  assert.equal(message.topic, "payment.initiated");
  assert.equal(message.key, payment.fromAccount);
  assert.equal(message.eventId, eventId);
  assert.deepEqual(PaymentInitiated.decode(message.payload), {
    paymentId: payment.id,
    fromAccount: payment.fromAccount,
    toAccount: payment.toAccount,
    amount: 1050,
    currency: "EUR",
    principal: "alice",
    initiatedAt: payment.createdAt,
    payerOwnerId: payment.payerOwnerId,
    payeeOwnerId: payment.payeeOwnerId,
  });
  assert.deepEqual(message.headers, {
    ce_id: eventId,
    ce_type: "payment.initiated",
    ce_source: "/securepay/payment-service",
    ce_specversion: "1.0",
    ce_time: payment.createdAt,
    "content-type": "application/protobuf",
  });
});

Deno.test("paymentInitiatedMessage() adds traceparent only when there is one", () => {
  const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  const eventId = crypto.randomUUID();
  assert.equal(
    paymentInitiatedMessage(payment, { principal: "a", eventId, traceparent }).headers.traceparent,
    traceparent,
  );
  assert.equal("traceparent" in paymentInitiatedMessage(payment, { principal: "a", eventId }).headers, false);
});
