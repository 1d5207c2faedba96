/**
 * Applies a batch of payment events exactly once, in one transaction per
 * try: the inbox row of each event, the balance changes under an optimistic
 * version check, the ledger pair of each applied event and the outcome event
 * of each one in the outbox. A redelivered event finds its inbox row and
 * changes nothing.
 *
 * Concurrency: accounts are read without locks, and each changed row is
 * written with `where version = <read version>`. A writer that lost the race
 * rolls back and tries again (bounded, with jitter); if it keeps losing, a
 * last try locks the accounts first (`for update`) and cannot lose. Rows are
 * always written and locked in ascending id order, and inbox rows in event id
 * order, so two consumers working on the same accounts never deadlock.
 */

import type { Queryable, Sql } from "@securepay/shared";
import { type AccountSnapshot, type Booking, type Outcome, type PaymentEvent, planBatch } from "../domain/apply.ts";
import type { AccountStatus } from "../domain/account.ts";
import { outcomeMessage } from "../domain/outcomes.ts";

/** Optimistic tries of a batch before the locked one. */
export const APPLY_OPTIMISTIC_ATTEMPTS_MAX = 8;
/** The random pause before optimistic retry n is at most n times this. */
const APPLY_BACKOFF_STEP_MS = 5;
/** Events written by one transaction at most; a larger batch is applied in chunks, in order. */
export const APPLY_EVENTS_PER_TRANSACTION_MAX = 500;
const LOWER_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface ApplyResult {
  /** One per event that was new, in event order. */
  readonly outcomes: readonly Outcome[];
  /** Events skipped because their inbox row (or their payment's, for the topic) already existed. */
  readonly duplicates: readonly PaymentEvent[];
  /** Accounts whose balance changed, with their version after the commit. */
  readonly changed: readonly { readonly id: string; readonly version: number }[];
  /** Optimistic tries that lost to a concurrent writer. */
  readonly conflicts: number;
}

export interface ApplyOptions {
  /** Called once per lost optimistic try (for the conflicts metric). */
  readonly onConflict?: () => void;
  readonly attemptsMax?: number;
  /** Clock for the outcome events' times. */
  readonly now?: () => Date;
}

/** Thrown inside a try when a row changed since it was read; the try rolls back. */
export class VersionConflictError extends Error {
  constructor(accountId: string) {
    super(`Cannot write account ${accountId} as another transaction changed it since it was read`);
    this.name = "VersionConflictError";
  }
}

/**
 * Applies `events` (in order; chunks of at most
 * {@link APPLY_EVENTS_PER_TRANSACTION_MAX} per transaction). Operating
 * errors other than lost races (connection lost, database down) are thrown
 * for the caller to retry the batch; nothing of an unfinished chunk stays.
 */
export async function applyEvents(
  sql: Sql,
  events: readonly PaymentEvent[],
  options: ApplyOptions = {},
): Promise<ApplyResult> {
  for (const event of events) {
    for (const id of [event.eventId, event.paymentId, event.fromAccount, event.toAccount]) {
      // The inbox and the accounts answer in lower case; another spelling would never match them.
      if (!LOWER_UUID.test(id)) throw new TypeError(`Cannot apply events as an id is not a lower-case UUID: ${id}`);
    }
  }
  const outcomes: Outcome[] = [];
  const duplicates: PaymentEvent[] = [];
  const changed = new Map<string, number>();
  let conflicts = 0;
  for (let start = 0; start < events.length; start += APPLY_EVENTS_PER_TRANSACTION_MAX) {
    const chunk = events.slice(start, start + APPLY_EVENTS_PER_TRANSACTION_MAX);
    const result = await applyChunk(sql, chunk, options);
    outcomes.push(...result.outcomes);
    duplicates.push(...result.duplicates);
    for (const account of result.changed) changed.set(account.id, account.version);
    conflicts += result.conflicts;
  }
  return { outcomes, duplicates, changed: [...changed].map(([id, version]) => ({ id, version })), conflicts };
}

async function applyChunk(sql: Sql, events: readonly PaymentEvent[], options: ApplyOptions): Promise<ApplyResult> {
  const attemptsMax = options.attemptsMax ?? APPLY_OPTIMISTIC_ATTEMPTS_MAX;
  const now = options.now ?? (() => new Date());
  let conflicts = 0;
  for (let attempt = 1; attempt <= attemptsMax; attempt++) {
    try {
      const result = await sql.begin((tx) => applyIn(tx, events, { locked: false, time: now() }));
      return { ...result, conflicts };
    } catch (error) {
      if (!(error instanceof VersionConflictError) && !isLostRace(error)) throw error;
      conflicts++;
      options.onConflict?.();
      // Jitter spreads competing writers apart so that one of them wins the next round.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * attempt * APPLY_BACKOFF_STEP_MS));
    }
  }
  // The accounts are too contended for optimism: lock them (in id order) and win for sure.
  const result = await sql.begin((tx) => applyIn(tx, events, { locked: true, time: now() }));
  return { ...result, conflicts };
}

interface AccountRow {
  id: string;
  currency: string;
  balance: number;
  version: number;
  status: AccountStatus;
}

interface BookingRow {
  payment_id: string;
  account_id: string;
  amount: number;
  currency: string;
  kind: "DEBIT" | "CREDIT";
}

/** One try: everything the batch changes, inside transaction `tx`. */
export async function applyIn(
  tx: Queryable,
  events: readonly PaymentEvent[],
  options: { locked: boolean; time: Date },
): Promise<Omit<ApplyResult, "conflicts">> {
  // The inbox decides which events are new. Inserting in event id order means
  // two consumers given the same events (after a rebalance) wait on each
  // other in one order only; the loser inserts nothing and skips them.
  const unique = [...new Map(events.map((e) => [e.eventId, e])).values()];
  const ordered = [...unique].sort((a, b) => compare(a.eventId, b.eventId));
  const fresh = ordered.length === 0 ? [] : await tx<{ event_id: string }[]>`
    insert into accounts.inbox (event_id, topic, payment_id)
    select * from unnest(
      ${ordered.map((e) => e.eventId)}::uuid[],
      ${ordered.map((e) => e.topic)}::text[],
      ${ordered.map((e) => e.paymentId)}::uuid[])
    on conflict do nothing
    returning event_id`;
  const freshIds = new Set(fresh.map((row) => row.event_id));
  const toApply: PaymentEvent[] = [];
  const duplicates: PaymentEvent[] = [];
  for (const event of events) (freshIds.delete(event.eventId) ? toApply : duplicates).push(event);
  if (toApply.length === 0) return { outcomes: [], duplicates, changed: [] };

  const accountIds = [...new Set(toApply.flatMap((e) => [e.fromAccount, e.toAccount]))].sort(compare);
  const accountRows = await tx<AccountRow[]>`
    select id, currency, balance, version, status from accounts.balances
    where id = any(${accountIds}::uuid[])
    order by id
    ${options.locked ? tx`for update` : tx``}`;
  const accounts = new Map<string, AccountSnapshot>(accountRows.map((row) => [row.id, row]));

  const refunded = [...new Set(toApply.filter((e) => e.topic === "payment.refund.initiated").map((e) => e.paymentId))];
  const bookings = new Map<string, Booking>();
  if (refunded.length > 0) {
    const rows = await tx<BookingRow[]>`
      select payment_id, account_id, amount, currency, kind from accounts.ledger_entries
      where payment_id = any(${refunded}::uuid[]) and kind in ('DEBIT', 'CREDIT')`;
    for (const paymentId of refunded) {
      const debit = rows.find((r) => r.payment_id === paymentId && r.kind === "DEBIT");
      const credit = rows.find((r) => r.payment_id === paymentId && r.kind === "CREDIT");
      if (debit === undefined || credit === undefined) continue;
      bookings.set(paymentId, {
        paymentId,
        fromAccount: debit.account_id,
        toAccount: credit.account_id,
        amount: credit.amount,
        currency: credit.currency,
      });
    }
  }

  const plan = planBatch(toApply, accounts, bookings);

  // Writes are pipelined: postgres.js sends them together and the server runs them in order.
  const updates = await Promise.all(plan.changes.map((change) =>
    tx<{ id: string; version: number }[]>`
      update accounts.balances
      set balance = ${change.balance}, version = version + ${change.changes}, updated_at = now()
      where id = ${change.before.id} and version = ${change.before.version}
      returning id, version`
  ));
  updates.forEach((rows, i) => {
    if (rows.length === 0) throw new VersionConflictError(plan.changes[i]!.before.id);
  });

  if (plan.entries.length > 0) {
    await tx`
      insert into accounts.ledger_entries ${
      tx(
        plan.entries.map((e) => ({
          account_id: e.accountId,
          amount: e.amount,
          currency: e.currency,
          kind: e.kind,
          payment_id: e.paymentId,
          balance_after: e.balanceAfter,
        })),
      )
    }`;
  }
  const messages = plan.outcomes.map((outcome) =>
    outcomeMessage(outcome, { eventId: crypto.randomUUID(), time: options.time })
  );
  await tx`
    insert into accounts.outbox ${
    tx(messages.map((m) => ({
      topic: m.topic,
      key: m.key,
      event_id: m.eventId,
      event_type: m.eventType,
      payload: m.payload,
      headers: tx.json({ ...m.headers }),
    })))
  }`;
  return {
    outcomes: plan.outcomes,
    duplicates,
    changed: updates.map((rows) => ({ id: rows[0]!.id, version: rows[0]!.version })),
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Serialization failures and deadlocks: another transaction won; trying again can succeed. */
function isLostRace(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === "40001" || code === "40P01";
}
