/**
 * The consumer of payment.initiated and payment.refund.initiated (group
 * account-service-group): each partition's batch is validated record by
 * record, the valid events are applied in as few transactions as the batch
 * allows (see `applyEvents`), and the balances they changed are invalidated
 * in the cache after the commit.
 *
 * A record that can never be applied (bad headers, undecodable payload,
 * invalid field) does not hold the others back: the valid ones are applied
 * first, then the batch fails naming the bad ones. The consumer retries it
 * (the applied events are now inbox duplicates, so nothing moves twice) and
 * finally handles it record by record, which sends only the bad records to
 * the dead-letter topic. Any other error (the database is down) is thrown
 * as is: the consumer fetches the records again later and never
 * dead-letters a valid payment.
 */

import { CONSUMER_GROUPS, type Logger, type MetricsRegistry, type Sql, TOPICS } from "@securepay/shared";
import { type ConsumedRecord, type PartitionBatchHandler, PoisonRecordError } from "@securepay/shared/kafka";
import type { AccountVersion } from "../cache/balance_cache.ts";
import type { PaymentEvent } from "../domain/apply.ts";
import { applyEvents } from "../store/apply_events.ts";
import { parsePaymentRecord } from "./records.ts";

export const APPLY_GROUP = CONSUMER_GROUPS.account;
export const APPLY_TOPIC_NAMES = [TOPICS.paymentInitiated, TOPICS.refundInitiated] as const;

export interface ApplyHandlerOptions {
  readonly sql: Sql;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  /** Called after each commit with the accounts it changed; must not throw. */
  readonly invalidate: (accounts: readonly AccountVersion[]) => Promise<void>;
}

/**
 * Thrown for a batch holding records that can never be applied, after the
 * others were. Handled one by one, each bad record throws it alone and is
 * dead-lettered with its problem as the reason.
 */
export class PoisonRecordsError extends PoisonRecordError {
  constructor(readonly problems: readonly { record: ConsumedRecord; problem: string }[]) {
    const shown = problems.slice(0, POISON_SHOWN_MAX)
      .map(({ record, problem }) => `${record.topic}/${record.partition}@${record.offset}: ${problem}`);
    const more = problems.length > POISON_SHOWN_MAX ? ` (and ${problems.length - POISON_SHOWN_MAX} more)` : "";
    super(`Cannot apply ${problems.length} record(s) as they are invalid: ${shown.join("; ")}${more}`);
    this.name = "PoisonRecordsError";
  }
}

const POISON_SHOWN_MAX = 5;

export function applyPaymentsHandler(options: ApplyHandlerOptions): PartitionBatchHandler {
  const { logger, metrics } = options;
  const conflicts = metrics.counter(
    "securepay_account_optimistic_conflicts_total",
    "Optimistic version checks lost to a concurrent writer (each one retries the transaction)",
  );
  const results = metrics.counter(
    "securepay_account_events_total",
    "Payment and refund events handled, by topic and result (applied, a failure reason, duplicate, invalid)",
  );
  const durations = metrics.histogram(
    "securepay_account_apply_batch_duration_seconds",
    "Time to apply one partition batch, commit included",
  );

  return async (records) => {
    const started = performance.now();
    const events: PaymentEvent[] = [];
    const poison: { record: ConsumedRecord; problem: string }[] = [];
    for (const record of records) {
      const parsed = parsePaymentRecord(record);
      if (parsed.ok) events.push(parsed.event);
      else poison.push({ record, problem: parsed.problem });
    }

    if (events.length > 0) {
      // A database failure throws here: the consumer retries, then fetches the batch again (never dead-letters it).
      const result = await applyEvents(options.sql, events, { onConflict: () => conflicts.inc() });
      // A redelivered event finds its work committed, perhaps by a process that
      // crashed before it invalidated the cache: invalidate its accounts again
      // at their current versions, so a stale balance cannot outlive the crash.
      const changed = new Set(result.changed.map((c) => c.id));
      const redelivered = [...new Set(result.duplicates.flatMap((e) => [e.fromAccount, e.toAccount]))]
        .filter((id) => !changed.has(id));
      const current = redelivered.length === 0 ? [] : await options.sql<{ id: string; version: number }[]>`
        select id, version from accounts.balances where id = any(${redelivered}::uuid[])`;
      await options.invalidate([...result.changed, ...current.map((r) => ({ id: r.id, version: r.version }))]);
      for (const outcome of result.outcomes) {
        const { event } = outcome;
        results.inc({ topic: event.topic, result: outcome.applied ? "applied" : outcome.reason });
        const fields = {
          event_id: event.eventId,
          payment_id: event.paymentId,
          topic: event.topic,
          amount: event.amount,
          currency: event.currency,
        };
        if (outcome.applied) logger.debug("payment event applied", fields);
        else logger.info("payment event refused", { ...fields, reason: outcome.reason });
      }
      for (const event of result.duplicates) {
        results.inc({ topic: event.topic, result: "duplicate" });
        logger.debug("payment event already applied", { event_id: event.eventId, payment_id: event.paymentId });
      }
    }
    durations.observe((performance.now() - started) / 1000);

    if (poison.length > 0) {
      for (const { record } of poison) results.inc({ topic: record.topic, result: "invalid" });
      throw new PoisonRecordsError(poison);
    }
  };
}
