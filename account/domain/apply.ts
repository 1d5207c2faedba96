/**
 * Applying payment events to balances, as a pure plan: given the events of a
 * batch (in order) and the accounts they touch, decide each event's outcome,
 * the new balance of every account and the ledger entries that explain it.
 * The store reads the inputs and writes the plan in one transaction; no I/O
 * lives here, so every business rule is tested without a database.
 */

import { MAX_SAFE_MINOR } from "@securepay/shared";
import type { AccountStatus, LedgerEntryKind } from "./account.ts";

/** The topics whose events move money in account. */
export const APPLY_TOPICS = ["payment.initiated", "payment.refund.initiated"] as const;
export type ApplyTopic = typeof APPLY_TOPICS[number];

/** A validated payment.initiated or payment.refund.initiated event. */
export interface PaymentEvent {
  /** The CloudEvents id (`ce_id`): the inbox key. */
  readonly eventId: string;
  readonly topic: ApplyTopic;
  readonly paymentId: string;
  /** The payer: debited by a payment, credited back by its refund. */
  readonly fromAccount: string;
  /** The payee: credited by a payment, debited by its refund. */
  readonly toAccount: string;
  readonly amount: number;
  readonly currency: string;
  readonly payerOwnerId: string;
  readonly payeeOwnerId: string;
  /** W3C trace context of the incoming record, carried to the outcome. */
  readonly traceparent?: string;
}

/**
 * Why an event did not move money. These are business outcomes published
 * as payment.failed / payment.refund.failed, not errors.
 */
export type FailureReason =
  | "account_not_found"
  | "account_closed"
  | "currency_mismatch"
  | "insufficient_funds"
  /** The credit would take a balance above the largest storable one. */
  | "balance_limit_exceeded"
  /** A refund of a payment that was never applied (failed, or unknown). */
  | "payment_not_applied"
  /** A refund whose accounts, amount or currency differ from the payment applied. */
  | "payment_mismatch";

export type Outcome =
  | { readonly event: PaymentEvent; readonly applied: true }
  | { readonly event: PaymentEvent; readonly applied: false; readonly reason: FailureReason };

/** What the plan needs to know of an account. */
export interface AccountSnapshot {
  readonly id: string;
  readonly currency: string;
  readonly balance: number;
  readonly version: number;
  readonly status: AccountStatus;
}

/** A payment as its DEBIT/CREDIT pair booked it: what a refund must reverse. */
export interface Booking {
  readonly paymentId: string;
  readonly fromAccount: string;
  readonly toAccount: string;
  readonly amount: number;
  readonly currency: string;
}

export interface PlannedEntry {
  readonly accountId: string;
  /** Signed: negative for DEBIT and REFUND_DEBIT. */
  readonly amount: number;
  readonly currency: string;
  readonly kind: LedgerEntryKind;
  readonly paymentId: string;
  readonly balanceAfter: number;
}

export interface AccountChange {
  readonly before: AccountSnapshot;
  readonly balance: number;
  /** Balance changes applied: the version grows by this much. */
  readonly changes: number;
}

export interface BatchPlan {
  /** One per event, in event order. */
  readonly outcomes: readonly Outcome[];
  /** Accounts whose balance changed, sorted by id (the order rows are written in). */
  readonly changes: readonly AccountChange[];
  /** In the order the events were applied. */
  readonly entries: readonly PlannedEntry[];
}

/**
 * Applies `events` in order to `accounts`, each event seeing the balances
 * left by the ones before it. `bookings` holds the payments already applied
 * (keyed by payment id) for refunds to reverse; payments applied earlier in
 * the same batch count as well.
 */
export function planBatch(
  events: readonly PaymentEvent[],
  accounts: ReadonlyMap<string, AccountSnapshot>,
  bookings: ReadonlyMap<string, Booking>,
): BatchPlan {
  const balances = new Map<string, { before: AccountSnapshot; balance: number; changes: number }>();
  const booked = new Map(bookings);
  const outcomes: Outcome[] = [];
  const entries: PlannedEntry[] = [];

  const state = (id: string) => {
    let s = balances.get(id);
    if (s === undefined) {
      const before = accounts.get(id);
      if (before === undefined) return undefined;
      s = { before, balance: before.balance, changes: 0 };
      balances.set(id, s);
    }
    return s;
  };

  for (const event of events) {
    const refund = event.topic === "payment.refund.initiated";
    // A payment takes from the payer and gives to the payee; its refund does the reverse.
    const debitId = refund ? event.toAccount : event.fromAccount;
    const creditId = refund ? event.fromAccount : event.toAccount;
    const reason = refund ? refundProblem(event, booked.get(event.paymentId)) : undefined;
    const debit = state(debitId);
    const credit = state(creditId);
    const problem = reason ?? transferProblem(event, debit, credit);
    if (problem !== undefined) {
      outcomes.push({ event, applied: false, reason: problem });
      continue;
    }
    debit!.balance -= event.amount;
    debit!.changes++;
    credit!.balance += event.amount;
    credit!.changes++;
    const kinds = refund ? REFUND_KINDS : PAYMENT_KINDS;
    entries.push(
      {
        accountId: debitId,
        amount: -event.amount,
        currency: event.currency,
        kind: kinds.debit,
        paymentId: event.paymentId,
        balanceAfter: debit!.balance,
      },
      {
        accountId: creditId,
        amount: event.amount,
        currency: event.currency,
        kind: kinds.credit,
        paymentId: event.paymentId,
        balanceAfter: credit!.balance,
      },
    );
    if (!refund) {
      booked.set(event.paymentId, {
        paymentId: event.paymentId,
        fromAccount: event.fromAccount,
        toAccount: event.toAccount,
        amount: event.amount,
        currency: event.currency,
      });
    }
    outcomes.push({ event, applied: true });
  }

  const changes = [...balances.values()]
    .filter((s) => s.changes > 0)
    .sort((a, b) => a.before.id < b.before.id ? -1 : a.before.id > b.before.id ? 1 : 0);
  return { outcomes, changes, entries };
}

const PAYMENT_KINDS = { debit: "DEBIT", credit: "CREDIT" } as const;
const REFUND_KINDS = { debit: "REFUND_DEBIT", credit: "REFUND_CREDIT" } as const;

interface Balance {
  readonly before: AccountSnapshot;
  readonly balance: number;
}

/** Why money cannot move from `debit` to `credit`, checked in the order a customer would want to hear it. */
function transferProblem(
  event: PaymentEvent,
  debit: Balance | undefined,
  credit: Balance | undefined,
): FailureReason | undefined {
  if (debit === undefined || credit === undefined) return "account_not_found";
  if (debit.before.currency !== event.currency || credit.before.currency !== event.currency) {
    return "currency_mismatch";
  }
  if (debit.before.status !== "OPEN" || credit.before.status !== "OPEN") return "account_closed";
  if (debit.balance < event.amount) return "insufficient_funds";
  if (credit.balance > MAX_SAFE_MINOR - event.amount) return "balance_limit_exceeded";
  return undefined;
}

function refundProblem(event: PaymentEvent, booking: Booking | undefined): FailureReason | undefined {
  if (booking === undefined) return "payment_not_applied";
  const same = booking.fromAccount === event.fromAccount && booking.toAccount === event.toAccount &&
    booking.amount === event.amount && booking.currency === event.currency;
  return same ? undefined : "payment_mismatch";
}
