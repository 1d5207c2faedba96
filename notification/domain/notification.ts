/**
 * What the notification program works with: a payment event reduced to the
 * fields a notice needs, the notices rendered from it, and the port through
 * which a notice leaves the program.
 */

import { TOPICS } from "@securepay/shared";

/**
 * The topics that produce notices. `payment.initiated` and
 * `payment.refund.initiated` are left out on purpose: the payer has just
 * been answered 202 by the API, the outcome follows within seconds, and
 * telling a payee about money that may still fail to arrive misleads.
 */
export const NOTIFIED_TOPICS = [
  TOPICS.paymentCompleted,
  TOPICS.paymentFailed,
  TOPICS.paymentRefunded,
  TOPICS.refundFailed,
] as const;

export type NotifiedTopic = typeof NOTIFIED_TOPICS[number];

export function isNotifiedTopic(value: string): value is NotifiedTopic {
  return (NOTIFIED_TOPICS as readonly string[]).includes(value);
}

/** A validated payment event, whatever its topic. */
export interface PaymentEvent {
  /** The CloudEvents `ce_id`: one notice per (id, recipient) at most. */
  readonly id: string;
  readonly type: NotifiedTopic;
  readonly paymentId: string;
  readonly fromAccount: string;
  readonly toAccount: string;
  readonly amountMinor: number;
  readonly currency: string;
  /** Stable reason code of payment.failed and payment.refund.failed; "" when none was given. */
  readonly reason: string;
  /** RFC 3339 time of the outcome. */
  readonly occurredAt: string;
  readonly payerOwnerId: string;
  /** "" when the event does not name one; only needed by payee notices. */
  readonly payeeOwnerId: string;
}

/** Whose account the notice is about. */
export type RecipientRole = "payer" | "payee";

/** One rendered notice to one account owner. */
export interface Notification {
  readonly eventId: string;
  readonly eventType: NotifiedTopic;
  readonly paymentId: string;
  readonly role: RecipientRole;
  readonly ownerId: string;
  readonly subject: string;
  /** Plain text, lines separated by "\n". */
  readonly body: string;
}

/** Delivers notices over one channel (log, SMTP, …). */
export interface NotificationSender {
  /** Metric label and the `channel` column of deliveries. */
  readonly channel: string;
  /**
   * The longest one `send()` can take. A delivery claimed longer ago than
   * this (plus a margin) belongs to a sender that died mid-send.
   */
  readonly sendTimeoutMs: number;
  /**
   * Resolves once the channel accepted the notice. Throws
   * {@link DeliveryUnknownError} when it cannot tell whether the notice went
   * out, {@link UndeliverableError} when it never will; any other error
   * means it did not go out this time (an outage) and may be tried again.
   */
  send(notification: Notification): Promise<void>;
}

/** The sender lost track of a notice after handing it over: it may or may not have been delivered. */
export class DeliveryUnknownError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DeliveryUnknownError";
  }
}

/**
 * The channel refused the notice for good (an address it cannot form, a
 * permanent SMTP reply): retrying cannot help, so the event goes to the
 * dead-letter topic, from which it can be replayed once the cause is fixed.
 */
export class UndeliverableError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UndeliverableError";
  }
}

/** A record that can never be turned into notices; the consumer sends it to the dead-letter topic. */
export class InvalidEventError extends TypeError {
  constructor(problem: string, options?: ErrorOptions) {
    super(`Cannot notify as the event is invalid: ${problem}`, options);
    this.name = "InvalidEventError";
  }
}
