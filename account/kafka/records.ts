/**
 * Turns a consumed Kafka record into a validated payment event, or names
 * what is wrong with it. A record with a problem can never be applied,
 * however often it is retried: the consumer dead-letters it.
 */

import { amountProblem, decodeEvent, isCurrency, isUuid, parseEventHeaders } from "@securepay/shared";
import { APPLY_TOPICS, type ApplyTopic, type PaymentEvent } from "../domain/apply.ts";
import { ownerIdProblem } from "../domain/rules.ts";

/** The parts of a consumed record that parsing reads. */
export interface PaymentRecord {
  readonly topic: string;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string | undefined>>;
}

export type ParsedRecord = { ok: true; event: PaymentEvent } | { ok: false; problem: string };

/** Validates the headers, the payload and every field of a payment or refund event. */
export function parsePaymentRecord(record: PaymentRecord): ParsedRecord {
  const topic = record.topic;
  if (!isApplyTopic(topic)) return { ok: false, problem: `topic ${topic} is not one account applies` };
  const headers = parseEventHeaders(topic, record.headers);
  if (!headers.ok) return { ok: false, problem: headers.problem };
  let message;
  try {
    message = decodeEvent(topic, record.value);
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
  const problems: string[] = [];
  const check = (field: string, problem: string | undefined) => {
    if (problem !== undefined) problems.push(`${field} ${problem}`);
  };
  check("payment_id", uuidProblem(message.paymentId));
  check("from_account", uuidProblem(message.fromAccount));
  check("to_account", uuidProblem(message.toAccount));
  if (isUuid(message.fromAccount) && message.fromAccount.toLowerCase() === message.toAccount.toLowerCase()) {
    problems.push("to_account must differ from from_account");
  }
  check("amount", amountProblem(message.amount));
  check("currency", isCurrency(message.currency) ? undefined : "must be a supported ISO 4217 code");
  check("payer_owner_id", ownerIdProblem(message.payerOwnerId));
  check("payee_owner_id", ownerIdProblem(message.payeeOwnerId));
  if (problems.length > 0) return { ok: false, problem: problems.join("; ") };
  return {
    ok: true,
    event: {
      eventId: headers.headers.ce_id.toLowerCase(),
      topic,
      paymentId: message.paymentId.toLowerCase(),
      fromAccount: message.fromAccount.toLowerCase(),
      toAccount: message.toAccount.toLowerCase(),
      amount: message.amount,
      currency: message.currency,
      payerOwnerId: message.payerOwnerId,
      payeeOwnerId: message.payeeOwnerId,
      ...(headers.headers.traceparent === undefined ? {} : { traceparent: headers.headers.traceparent }),
    },
  };
}

function isApplyTopic(topic: string): topic is ApplyTopic {
  return (APPLY_TOPICS as readonly string[]).includes(topic);
}

function uuidProblem(value: string): string | undefined {
  return isUuid(value) ? undefined : "must be a UUID";
}
