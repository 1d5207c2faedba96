/**
 * The events account publishes when it has applied (or refused) a payment
 * or a refund: protobuf payloads of securepay.events.v1 with CloudEvents
 * binary-mode headers, keyed by the payer's account so that one account's
 * outcomes stay in order.
 */

import { encodeEvent, eventHeaders, TOPICS } from "@securepay/shared";
import type { Outcome } from "./apply.ts";

export const EVENT_SOURCE = "/securepay/account-service";

/** A row of accounts.outbox, before it is written. */
export interface OutboxMessage {
  readonly topic: string;
  readonly key: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly payload: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

/** The outcome event of one applied or refused event, with a fresh event id. */
export function outcomeMessage(outcome: Outcome, options: { eventId: string; time: Date }): OutboxMessage {
  const { event } = outcome;
  const at = options.time.toISOString();
  const common = {
    paymentId: event.paymentId,
    fromAccount: event.fromAccount,
    toAccount: event.toAccount,
    amount: event.amount,
    currency: event.currency,
    payerOwnerId: event.payerOwnerId,
    payeeOwnerId: event.payeeOwnerId,
  };
  let topic;
  let payload;
  if (event.topic === TOPICS.paymentInitiated) {
    if (outcome.applied) {
      topic = TOPICS.paymentCompleted;
      payload = encodeEvent(topic, { ...common, completedAt: at });
    } else {
      topic = TOPICS.paymentFailed;
      payload = encodeEvent(topic, { ...common, reason: outcome.reason, failedAt: at });
    }
  } else if (outcome.applied) {
    topic = TOPICS.paymentRefunded;
    payload = encodeEvent(topic, { ...common, refundedAt: at });
  } else {
    topic = TOPICS.refundFailed;
    payload = encodeEvent(topic, { ...common, reason: outcome.reason, failedAt: at });
  }
  const headers = eventHeaders({
    id: options.eventId,
    type: topic,
    source: EVENT_SOURCE,
    time: at,
    traceparent: event.traceparent,
  });
  return {
    topic,
    key: event.fromAccount,
    eventId: options.eventId,
    eventType: topic,
    payload,
    headers: { ...headers },
  };
}
