/**
 * The consumer's batch handler: each record of a partition, in order,
 * becomes a validated event and then its notices.
 *
 * A record that can never be notified (invalid headers or payload, or a
 * notice the channel refuses for good) throws a PoisonRecordError: after the
 * consumer's bounded retries it lands in `notification-service-group.dlq`
 * with the problem as its reason, and the partition moves on. Any other
 * failure (database or SMTP relay away) is an outage: the consumer fetches
 * the records again later, so notices are delayed, never dropped. Records
 * handled again (a retried batch, a redelivery after a crash or a
 * rebalance) are harmless: the notifier never sends a notice twice.
 */

import type { Logger, MetricsRegistry } from "@securepay/shared";
import { type ConsumedRecord, type PartitionBatchHandler, PoisonRecordError } from "@securepay/shared/kafka";
import { InvalidEventError, UndeliverableError } from "../domain/notification.ts";
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
        if (!(error instanceof InvalidEventError)) throw error;
        invalid.inc({ topic: record.topic });
        options.logger.warn("invalid payment event", {
          topic: record.topic,
          partition: record.partition,
          offset: record.offset,
          problem: error.message,
        });
        throw new PoisonRecordError(error.message, { cause: error });
      }
      try {
        await notifier.notify(event);
      } catch (error) {
        if (error instanceof UndeliverableError) throw new PoisonRecordError(error.message, { cause: error });
        throw error;
      }
    }
  };
}
