/**
 * The ports the payment core talks through. Adapters (PostgreSQL, gRPC)
 * implement them; tests may build the same core with other adapters.
 */

import type { Cursor } from "@securepay/shared";
import type { Outcome, OutcomeEffect } from "./outcomes.ts";
import type { Payment, PaymentStatus, StoredPayment } from "./payment.ts";

/** Who is asking and how to reach back to them, carried to downstream calls. */
export interface RequestContext {
  readonly requestId: string;
  /** The caller's `authorization` metadata, forwarded verbatim and never logged. */
  readonly authorization?: string;
  /** W3C trace context of the incoming call, if any. */
  readonly traceparent?: string;
}

export interface AccountSnapshot {
  readonly id: string;
  readonly ownerId: string;
  readonly currency: string;
  readonly balanceMinor: number;
  readonly status: "OPEN" | "CLOSED";
}

export interface FundsCheck {
  readonly accountId: string;
  readonly amountMinor: number;
  readonly currency: string;
}

/** AccountService as the payment core needs it. Failures are AppErrors. */
export interface AccountsPort {
  getAccount(accountId: string, context: RequestContext): Promise<AccountSnapshot>;
  checkFunds(check: FundsCheck, context: RequestContext): Promise<{ sufficient: boolean; account: AccountSnapshot }>;
}

/** One event to publish later, written in the same transaction as its cause. */
export interface OutboxMessage {
  readonly topic: string;
  /** Kafka record key: events of one key stay in order. */
  readonly key: string;
  readonly eventId: string;
  readonly eventType: string;
  readonly payload: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

export interface ListPaymentsQuery {
  /** Only payments where this owner pays or is paid. */
  readonly ownerId?: string;
  /** Only payments from or to this account. */
  readonly accountId?: string;
  readonly status?: PaymentStatus;
  readonly limit: number;
  /** Keyset: only payments older than this one (newest first). */
  readonly after?: Cursor;
}

export interface PaymentPage {
  readonly payments: readonly Payment[];
  /** The key of the last payment when more may follow. */
  readonly next?: Cursor;
}

export interface PaymentStore {
  findByIdempotencyKey(principal: string, idempotencyKey: string): Promise<StoredPayment | undefined>;
  /**
   * Inserts the payment and its outbox message in one transaction. Returns
   * false (and stores nothing) when (principal, idempotency key) is taken.
   */
  insertWithOutbox(row: StoredPayment, message: OutboxMessage): Promise<boolean>;
  findById(id: string): Promise<Payment | undefined>;
  list(query: ListPaymentsQuery): Promise<PaymentPage>;
  /**
   * In one transaction, with the payment locked: records the refund request
   * and the outbox message `messageOf(payment)` when the payment may be
   * refunded, or says why not. Refunds of one payment are serialised by the
   * lock; the unique (payment_id) and (principal, idempotency_key) settle
   * every race.
   */
  requestRefund(request: RefundRequest, messageOf: (payment: Payment) => OutboxMessage): Promise<RefundOutcome>;
  /**
   * Applies outcome events in order, in one transaction: each event id once,
   * each payment only forward. Throws (applying nothing) when an event names
   * a payment that does not exist.
   */
  applyOutcomes(outcomes: readonly Outcome[]): Promise<OutcomeEffect[]>;
}

export interface RefundRequest {
  readonly refundId: string;
  readonly paymentId: string;
  readonly principal: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
  /** RFC 3339. */
  readonly requestedAt: string;
}

export type RefundOutcome =
  /** The refund was recorded; `payment` shows it PENDING. */
  | { readonly kind: "requested"; readonly payment: Payment }
  /** This (principal, key) already asked for this payment's refund. */
  | { readonly kind: "replayed"; readonly payment: Payment }
  /** This (principal, key) was used for something else. */
  | { readonly kind: "key_reused" }
  | { readonly kind: "not_found" }
  /** The payment is not COMPLETED, or already has a refund. */
  | { readonly kind: "not_refundable"; readonly payment: Payment };
