/**
 * What the payment service learns from account: the outcome events of
 * payments and refunds, validated from a Kafka record into one shape. A
 * record that is not a valid event of its topic is a poison record: parsing
 * throws, and the consumer dead-letters it after its bounded retries.
 */

import { decodeEvent, isUuid, parseEventHeaders, TOPICS } from "@securepay/shared";

/** The topics payment-service-group follows. */
export const OUTCOME_TOPICS = [
  TOPICS.paymentCompleted,
  TOPICS.paymentFailed,
  TOPICS.paymentRefunded,
  TOPICS.refundFailed,
] as const;

export type OutcomeTopic = typeof OUTCOME_TOPICS[number];

export interface Outcome {
  /** CloudEvents id: a redelivered record carries the same one. */
  readonly eventId: string;
  readonly topic: OutcomeTopic;
  readonly paymentId: string;
  /** Why a payment or refund failed; null for success. */
  readonly reason: string | null;
}

/** The parts of a consumed Kafka record an outcome is read from. */
export interface OutcomeRecord {
  readonly topic: string;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

export const FAILURE_REASON_MAX_CHARS = 200;

/** Reads an outcome from `record`; throws a TypeError naming the problem for a poison record. */
export function parseOutcome(record: OutcomeRecord): Outcome {
  const topic = record.topic;
  if (!(OUTCOME_TOPICS as readonly string[]).includes(topic)) {
    throw new TypeError(`Cannot apply a record of ${topic.slice(0, 100)} as payment does not follow that topic`);
  }
  const outcomeTopic = topic as OutcomeTopic;
  const headers = parseEventHeaders(topic, record.headers);
  if (!headers.ok) throw new TypeError(`Cannot apply a ${topic} record as its headers are invalid: ${headers.problem}`);
  const event = decodeEvent(outcomeTopic, record.value);
  if (!isUuid(event.paymentId)) {
    throw new TypeError(`Cannot apply a ${topic} record as its payment_id is not a UUID`);
  }
  let reason: string | null = null;
  if ("reason" in event) {
    if (event.reason.length === 0) throw new TypeError(`Cannot apply a ${topic} record as it has no reason`);
    reason = [...event.reason].slice(0, FAILURE_REASON_MAX_CHARS).join("");
  }
  return {
    eventId: headers.headers.ce_id.toLowerCase(),
    topic: outcomeTopic,
    paymentId: event.paymentId.toLowerCase(),
    reason,
  };
}

/** An outcome names a payment this service never accepted: the event can never apply. */
export class UnknownPaymentError extends Error {
  constructor(readonly paymentId: string, topic: string) {
    super(`Cannot apply ${topic} as payment ${paymentId} does not exist`);
    this.name = "UnknownPaymentError";
  }
}

/** What applying one outcome did. */
export type OutcomeEffect =
  /** The payment (or its refund) moved forward. */
  | "applied"
  /** This event id was applied before: a redelivery. */
  | "duplicate"
  /** The payment is already past the state this event moves it from: a late or repeated outcome. */
  | "stale";
