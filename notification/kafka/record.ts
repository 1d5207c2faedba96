/**
 * Turns a consumed Kafka record into a validated {@link PaymentEvent}, or
 * throws {@link InvalidEventError} naming the problem: such a record can
 * never be notified, so the consumer's retries end in the dead-letter topic.
 */

import { decodeEvent, isUuid, MAX_AMOUNT_MINOR, parseEventHeaders } from "@securepay/shared";
import { isCurrency } from "@securepay/shared";
import { InvalidEventError, isNotifiedTopic, type PaymentEvent } from "../domain/notification.ts";
import { recipientRoles } from "../domain/templates.ts";

/** The parts of a consumed record this module reads. */
export interface RecordLike {
  readonly topic: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly value: Uint8Array;
}

const OWNER_ID_CHARS_MAX = 255;
const REASON = /^[a-z][a-z0-9_]{0,63}$/;
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function parsePaymentEvent(record: RecordLike): PaymentEvent {
  const { topic } = record;
  if (!isNotifiedTopic(topic)) {
    throw new InvalidEventError(`topic ${JSON.stringify(topic.slice(0, 100))} is not notified`);
  }
  const parsed = parseEventHeaders(topic, record.headers);
  if (!parsed.ok) throw new InvalidEventError(parsed.problem);
  if (record.headers["content-type"] !== undefined && record.headers["content-type"] !== "application/protobuf") {
    throw new InvalidEventError("content-type must be application/protobuf");
  }
  let message;
  try {
    message = decodeEvent(topic, record.value);
  } catch (error) {
    throw new InvalidEventError(`the payload is not a ${topic} message`, { cause: error });
  }
  const { headers } = parsed;
  const fields = message as {
    paymentId: string;
    fromAccount: string;
    toAccount: string;
    amount: number;
    currency: string;
    payerOwnerId: string;
    payeeOwnerId: string;
    reason?: string;
    completedAt?: string;
    failedAt?: string;
    refundedAt?: string;
  };
  const problems: string[] = [];
  if (!isUuid(fields.paymentId)) problems.push("payment_id must be a UUID");
  if (!isUuid(fields.fromAccount)) problems.push("from_account must be a UUID");
  if (!isUuid(fields.toAccount)) problems.push("to_account must be a UUID");
  if (!Number.isSafeInteger(fields.amount) || fields.amount < 1 || fields.amount > MAX_AMOUNT_MINOR) {
    problems.push(`amount must be an integer 1..${MAX_AMOUNT_MINOR}`);
  }
  if (!isCurrency(fields.currency)) problems.push("currency must be a supported ISO 4217 code");
  const roles = recipientRoles(topic);
  for (const [role, ownerId] of [["payer", fields.payerOwnerId], ["payee", fields.payeeOwnerId]] as const) {
    const needed = roles.includes(role);
    if (ownerId === "" && !needed) continue;
    if (ownerId === "" || ownerId.length > OWNER_ID_CHARS_MAX || CONTROL.test(ownerId)) {
      problems.push(`${role}_owner_id must be 1-${OWNER_ID_CHARS_MAX} printable characters`);
    }
  }
  const reason = fields.reason ?? "";
  if (reason !== "" && !REASON.test(reason)) problems.push("reason must be a lower-case code");
  if (problems.length > 0) throw new InvalidEventError(problems.join("; "));

  const outcomeAt = fields.completedAt ?? fields.failedAt ?? fields.refundedAt ?? "";
  const occurredAt = Number.isNaN(Date.parse(outcomeAt)) ? headers.ce_time : outcomeAt;
  return {
    id: headers.ce_id.toLowerCase(),
    type: topic,
    paymentId: fields.paymentId.toLowerCase(),
    fromAccount: fields.fromAccount.toLowerCase(),
    toAccount: fields.toAccount.toLowerCase(),
    amountMinor: fields.amount,
    currency: fields.currency,
    reason,
    occurredAt: new Date(Date.parse(occurredAt)).toISOString(),
    payerOwnerId: fields.payerOwnerId,
    payeeOwnerId: fields.payeeOwnerId,
  };
}
