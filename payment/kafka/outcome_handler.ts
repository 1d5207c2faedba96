/**
 * payment-service-group's handler: the outcome events of one partition, in
 * order, applied to the payments in one database transaction. A poison
 * record (malformed, or naming no payment of ours) makes the batch throw a
 * PoisonRecordError with nothing written; the consumer retries (bounded),
 * then tries the records one by one and dead-letters only the poison ones.
 * Any other error (the database is down) is an outage: nothing is
 * committed, and the records are fetched again.
 */

import type { Logger, MetricsRegistry } from "@securepay/shared";
import { type PartitionBatchHandler, PoisonRecordError } from "@securepay/shared/kafka";
import { type Outcome, parseOutcome, UnknownPaymentError } from "../domain/outcomes.ts";
import type { PaymentStore } from "../domain/ports.ts";

export function outcomeHandler(
  store: PaymentStore,
  options: { logger: Logger; metrics?: MetricsRegistry },
): PartitionBatchHandler {
  const applied = options.metrics?.counter(
    "payment_outcomes_total",
    "Outcome events by topic and effect: applied, duplicate (event seen before) or stale (payment already past it).",
  );
  return async (records) => {
    let outcomes: Outcome[];
    try {
      outcomes = records.map(parseOutcome);
    } catch (error) {
      throw new PoisonRecordError(error instanceof Error ? error.message : String(error), { cause: error });
    }
    let effects;
    try {
      effects = await store.applyOutcomes(outcomes);
    } catch (error) {
      // Not an outage: this event can never apply, so it goes to the dead-letter topic.
      if (error instanceof UnknownPaymentError) throw new PoisonRecordError(error.message, { cause: error });
      throw error;
    }
    outcomes.forEach((outcome, i) => {
      const effect = effects[i]!;
      applied?.inc({ topic: outcome.topic, effect });
      if (effect === "stale") {
        options.logger.info("outcome changed nothing as the payment is past it", {
          topic: outcome.topic,
          event_id: outcome.eventId,
          payment_id: outcome.paymentId,
        });
      }
    });
  };
}
