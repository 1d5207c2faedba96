/**
 * payment-service-group's handler: the outcome events of one partition, in
 * order, applied to the payments in one database transaction. A poison
 * record makes the batch throw before anything is written; the consumer
 * retries (bounded) and then dead-letters the records that still fail, one
 * by one, so the good ones around it are applied.
 */

import type { Logger, MetricsRegistry } from "@securepay/shared";
import type { PartitionBatchHandler } from "@securepay/shared/kafka";
import { parseOutcome } from "../domain/outcomes.ts";
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
    const outcomes = records.map(parseOutcome);
    const effects = await store.applyOutcomes(outcomes);
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
