/**
 * The events the payment service emits, as outbox messages: a protobuf
 * payload from securepay.events.v1 with CloudEvents binary-mode headers.
 */

import { encodeEvent, eventHeaders, TOPICS } from "@securepay/shared";
import { PaymentInitiated } from "@securepay/shared/gen/events";
import type { Payment } from "./payment.ts";
import type { OutboxMessage } from "./ports.ts";

export const EVENT_SOURCE = "/securepay/payment-service";
export const PAYMENT_INITIATED = "payment.initiated";

/** The payment.initiated message of a freshly accepted payment. */
export function paymentInitiatedMessage(
  payment: Payment,
  options: { principal: string; eventId: string; traceparent?: string },
): OutboxMessage {
  const payload = PaymentInitiated.encode({
    paymentId: payment.id,
    fromAccount: payment.fromAccount,
    toAccount: payment.toAccount,
    amount: payment.amountMinor,
    currency: payment.currency,
    principal: options.principal,
    initiatedAt: payment.createdAt,
    payerOwnerId: payment.payerOwnerId,
    payeeOwnerId: payment.payeeOwnerId,
  }).finish();
  const headers: Record<string, string> = {
    ce_id: options.eventId,
    ce_type: PAYMENT_INITIATED,
    ce_source: EVENT_SOURCE,
    ce_specversion: "1.0",
    ce_time: payment.createdAt,
    // CloudEvents' Kafka binding carries datacontenttype as content-type.
    "content-type": "application/protobuf",
  };
  if (options.traceparent) headers.traceparent = options.traceparent;
  return {
    topic: PAYMENT_INITIATED,
    // One account's payments stay in order on their partition.
    key: payment.fromAccount,
    eventId: options.eventId,
    eventType: PAYMENT_INITIATED,
    payload,
    headers,
  };
}

export const PAYMENT_REFUND_INITIATED = TOPICS.refundInitiated;

/**
 * The payment.refund.initiated message of a refund just requested, keyed by
 * the payer account like the payment itself, so that account sees the
 * payment before its refund.
 */
export function refundInitiatedMessage(
  payment: Payment,
  options: { principal: string; eventId: string; initiatedAt: string; traceparent?: string },
): OutboxMessage {
  const payload = encodeEvent(TOPICS.refundInitiated, {
    paymentId: payment.id,
    fromAccount: payment.fromAccount,
    toAccount: payment.toAccount,
    amount: payment.amountMinor,
    currency: payment.currency,
    principal: options.principal,
    initiatedAt: options.initiatedAt,
    payerOwnerId: payment.payerOwnerId,
    payeeOwnerId: payment.payeeOwnerId,
  });
  return {
    topic: TOPICS.refundInitiated,
    key: payment.fromAccount,
    eventId: options.eventId,
    eventType: TOPICS.refundInitiated,
    payload,
    headers: {
      ...eventHeaders({
        id: options.eventId,
        type: TOPICS.refundInitiated,
        source: EVENT_SOURCE,
        time: options.initiatedAt,
        traceparent: options.traceparent,
      }),
    },
  };
}
