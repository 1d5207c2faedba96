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
 * the dead-letter topic.
 */

import { CONSUMER_GROUPS, type Logger, type MetricsRegistry, type Sql, TOPICS } from "@securepay/shared";
import type { ConsumedRecord, PartitionBatchHandler } from "@securepay/shared/kafka";
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
  /** How long a database outage is waited out before the batch fails. Default 10000. */
  readonly transientRetryMs?: number;
}

/** Thrown for a batch holding records that can never be applied, after the others were. */
export class PoisonRecordsError extends Error {
  constructor(readonly problems: readonly { record: ConsumedRecord; problem: string }[]) {
    const shown = problems.slice(0, POISON_SHOWN_MAX)
      .map(({ record, problem }) => `${record.topic}/${record.partition}@${record.offset}: ${problem}`);
    const more = problems.length > POISON_SHOWN_MAX ? ` (and ${problems.length - POISON_SHOWN_MAX} more)` : "";
    super(`Cannot apply ${problems.length} record(s) as they are invalid: ${shown.join("; ")}${more}`);
    this.name = "PoisonRecordsError";
  }
}

const POISON_SHOWN_MAX = 5;
const TRANSIENT_BACKOFF_FIRST_MS = 100;
const TRANSIENT_BACKOFF_MAX_MS = 2_000;

export function applyPaymentsHandler(options: ApplyHandlerOptions): PartitionBatchHandler {
  const { logger, metrics } = options;
  const transientRetryMs = options.transientRetryMs ?? 10_000;
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
      const result = await withTransientRetries(
        () => applyEvents(options.sql, events, { onConflict: () => conflicts.inc() }),
        { windowMs: transientRetryMs, logger },
      );
      await options.invalidate(result.changed);
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

/**
 * Runs `work` again while it fails for a reason that passes (the database
 * restarting, a connection dropped), for at most `windowMs`; any other
 * error, or one that outlasts the window, is thrown.
 */
export async function withTransientRetries<T>(
  work: () => Promise<T>,
  options: { windowMs: number; logger: Logger },
): Promise<T> {
  const deadline = performance.now() + options.windowMs;
  for (let attempt = 1;; attempt++) {
    try {
      return await work();
    } catch (error) {
      const pauseMs = Math.min(TRANSIENT_BACKOFF_FIRST_MS * 2 ** (attempt - 1), TRANSIENT_BACKOFF_MAX_MS);
      if (!isTransient(error) || performance.now() + pauseMs > deadline) throw error;
      options.logger.warn("database unavailable while applying payments; retrying", { error, attempt });
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}

/** Connection-level failures and server states that pass; not errors in the data. */
export function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== "string") return false;
  if (code.startsWith("08")) return true; // connection exception
  if (code === "57P01" || code === "57P02" || code === "57P03") return true; // shutdown, crash, cannot connect now
  if (code === "53300") return true; // too many connections
  if (code === "40001" || code === "40P01") return true; // serialization failure, deadlock
  return [
    "ECONNREFUSED",
    "ECONNRESET",
    "ETIMEDOUT",
    "EPIPE",
    "CONNECTION_CLOSED",
    "CONNECTION_ENDED",
    "CONNECTION_DESTROYED",
    "CONNECT_TIMEOUT",
  ].includes(code);
}
