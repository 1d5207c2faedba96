/**
 * The event contract of DESIGN.md §6: topic names, consumer groups, the
 * protobuf message of each topic, and the CloudEvents binary-mode headers
 * every record carries. Producers and consumers use only this module, so a
 * topic and its payload type can never drift apart.
 */

import {
  PaymentCompleted,
  PaymentFailed,
  PaymentInitiated,
  PaymentRefunded,
  PaymentRefundFailed,
  PaymentRefundInitiated,
} from "./gen/securepay/events/v1/events.ts";

export const TOPICS = {
  paymentInitiated: "payment.initiated",
  paymentCompleted: "payment.completed",
  paymentFailed: "payment.failed",
  refundInitiated: "payment.refund.initiated",
  paymentRefunded: "payment.refunded",
  refundFailed: "payment.refund.failed",
} as const;

export type Topic = typeof TOPICS[keyof typeof TOPICS];

export const CONSUMER_GROUPS = {
  account: "account-service-group",
  payment: "payment-service-group",
  notification: "notification-service-group",
} as const;

/** The dead-letter topic of a consumer group. */
export function dlqTopic(group: string): string {
  return `${group}.dlq`;
}

/** The message type of each topic's payload. */
export interface TopicPayloads {
  "payment.initiated": PaymentInitiated;
  "payment.completed": PaymentCompleted;
  "payment.failed": PaymentFailed;
  "payment.refund.initiated": PaymentRefundInitiated;
  "payment.refunded": PaymentRefunded;
  "payment.refund.failed": PaymentRefundFailed;
}

interface Codec<T> {
  encode(message: T): { finish(): Uint8Array };
  decode(input: Uint8Array): T;
}

const CODECS: { [K in Topic]: Codec<TopicPayloads[K]> } = {
  "payment.initiated": PaymentInitiated,
  "payment.completed": PaymentCompleted,
  "payment.failed": PaymentFailed,
  "payment.refund.initiated": PaymentRefundInitiated,
  "payment.refunded": PaymentRefunded,
  "payment.refund.failed": PaymentRefundFailed,
};

export function isTopic(value: unknown): value is Topic {
  return typeof value === "string" && Object.hasOwn(CODECS, value);
}

export function encodeEvent<T extends Topic>(topic: T, message: TopicPayloads[T]): Uint8Array {
  return CODECS[topic].encode(message).finish();
}

/** Decodes a payload; throws a TypeError naming the topic when the bytes are not its message. */
export function decodeEvent<T extends Topic>(topic: T, payload: Uint8Array): TopicPayloads[T] {
  try {
    return CODECS[topic].decode(payload);
  } catch (error) {
    throw new TypeError(`Cannot decode ${topic} as its payload is not a valid protobuf message`, { cause: error });
  }
}

/** CloudEvents binary-mode headers (Kafka protocol binding) plus W3C trace context. */
export interface EventHeaders {
  ce_id: string;
  ce_type: Topic;
  ce_source: string;
  ce_specversion: "1.0";
  ce_time: string;
  "content-type": "application/protobuf";
  traceparent?: string;
}

export function eventHeaders(
  options: { id: string; type: Topic; source: string; time: string; traceparent?: string },
): EventHeaders {
  const headers: EventHeaders = {
    ce_id: options.id,
    ce_type: options.type,
    ce_source: options.source,
    ce_specversion: "1.0",
    ce_time: options.time,
    "content-type": "application/protobuf",
  };
  if (options.traceparent && TRACEPARENT.test(options.traceparent)) headers.traceparent = options.traceparent;
  return headers;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Validates the headers of a received record. Returns the problem, or the
 * parsed headers; a consumer sends a record with a problem to its DLQ.
 */
export function parseEventHeaders(
  topic: string,
  headers: Readonly<Record<string, string | undefined>>,
): { ok: true; headers: EventHeaders } | { ok: false; problem: string } {
  const id = headers.ce_id;
  if (!id || !UUID.test(id)) return { ok: false, problem: "ce_id must be a UUID" };
  if (headers.ce_type !== topic || !isTopic(topic)) {
    return { ok: false, problem: `ce_type must be the topic ${topic}` };
  }
  if (headers.ce_specversion !== "1.0") return { ok: false, problem: "ce_specversion must be 1.0" };
  if (!headers.ce_source || headers.ce_source.length > 255) return { ok: false, problem: "ce_source is missing" };
  if (!headers.ce_time || Number.isNaN(Date.parse(headers.ce_time))) {
    return { ok: false, problem: "ce_time must be an RFC 3339 time" };
  }
  return {
    ok: true,
    headers: eventHeaders({
      id,
      type: topic,
      source: headers.ce_source,
      time: headers.ce_time,
      traceparent: headers.traceparent,
    }),
  };
}
