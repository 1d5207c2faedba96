/**
 * The consumer's batch handler: each record of a partition, in order,
 * becomes a validated event and then its notices. Invalid records throw
 * {@link InvalidEventError}; after the consumer's bounded retries they land
 * in `notification-service-group.dlq` with the problem as the reason.
 * Records handled again (a retried batch, a redelivery after a crash or a
 * rebalance) are harmless: the notifier never sends a notice twice.
 */

import type { Logger, MetricsRegistry } from "@securepay/shared";
import type { ConsumedRecord, PartitionBatchHandler } from "@securepay/shared/kafka";
import { InvalidEventError } from "../domain/notification.ts";
import type { Notifier } from "../notifier.ts";
import { parsePaymentEvent } from "./record.ts";

export function notificationHandler(
  notifier: Notifier,
  options: { logger: Logger; metrics: MetricsRegistry },
): PartitionBatchHandler {
  const invalid = options.metrics.counter(
    "securepay_notification_invalid_records_total",
    "Records that can never be notified (bad headers or payload); they end in the dead-letter topic",
  );
  return async (records: readonly ConsumedRecord[]) => {
    for (const record of records) {
      let event;
      try {
        event = parsePaymentEvent(record);
      } catch (error) {
        if (error instanceof InvalidEventError) {
          invalid.inc({ topic: record.topic });
          options.logger.warn("invalid payment event", {
            topic: record.topic,
            partition: record.partition,
            offset: record.offset,
            problem: error.message,
          });
        }
        throw error;
      }
      await notifier.notify(event);
    }
  };
}
