/**
 * The core of the program: turns one payment event into its notices and
 * delivers each at most once through the delivery ledger.
 *
 * Per notice: claim (committed) → send → mark sent. The claim is what makes
 * a redelivered event harmless. The one window the scheme cannot close is a
 * crash between handing the notice to the channel and marking it sent: the
 * claim then stays 'sending' until its lease runs out, and the next consumer
 * to see it records 'unknown' and counts it in
 * `securepay_notification_unknown_total` instead of sending again. We
 * prefer a rare lost notice (visible in that counter and in the table) to a
 * duplicate one, because the contract is "never twice".
 */

import type { Logger, MetricsRegistry } from "@securepay/shared";
import type { DeliveryStore } from "./domain/delivery_store.ts";
import {
  DeliveryUnknownError,
  type Notification,
  type NotificationSender,
  type PaymentEvent,
  UndeliverableError,
} from "./domain/notification.ts";
import { renderNotifications } from "./domain/templates.ts";

export type DeliveryOutcome = "sent" | "duplicate" | "unknown";

export interface NotifierOptions {
  readonly store: DeliveryStore;
  readonly sender: NotificationSender;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
  /** Added to the sender's bound to form the lease of a claim. Default 5000. */
  readonly leaseMarginMs?: number;
  /** Pause between looks at a notice another consumer is sending. Default 200. */
  readonly busyPollMs?: number;
}

export interface Notifier {
  /** Delivers every notice of `event`; throws when one could not be sent (the batch is retried). */
  notify(event: PaymentEvent): Promise<DeliveryOutcome[]>;
}

const MARK_SENT_ATTEMPTS_MAX = 3;

export function createNotifier(options: NotifierOptions): Notifier {
  const { store, sender, logger, metrics } = options;
  const leaseMs = sender.sendTimeoutMs + (options.leaseMarginMs ?? 5_000);
  const busyPollMs = options.busyPollMs ?? 200;
  const sent = metrics.counter("securepay_notifications_sent_total", "Notices accepted by their channel");
  const failures = metrics.counter(
    "securepay_notification_failures_total",
    "Send attempts that certainly failed (retried, then dead-lettered)",
  );
  const duplicates = metrics.counter(
    "securepay_notification_duplicates_total",
    "Notices skipped because their event was delivered again after they were sent",
  );
  const unknown = metrics.counter(
    "securepay_notification_unknown_total",
    "Notices that may or may not have left (crash or lost reply mid-send); never sent again",
  );

  const deliver = async (notice: Notification): Promise<DeliveryOutcome> => {
    const log = logger.with({ event_id: notice.eventId, event_type: notice.eventType, recipient: notice.role });
    const labels = { type: notice.eventType, channel: sender.channel };
    // A busy claim ends within its lease: sent, failed, or abandoned. Waiting longer is a bug elsewhere.
    const waitUntil = Date.now() + leaseMs + 2 * busyPollMs;
    while (true) {
      const claim = await store.claim(notice, sender.channel, leaseMs);
      switch (claim.kind) {
        case "settled":
          if (claim.status === "sent") {
            duplicates.inc({ type: notice.eventType });
            log.debug("notice already sent");
            return "duplicate";
          }
          log.debug("notice already recorded as unknown");
          return "unknown";
        case "abandoned":
          if (await store.markUnknown(notice, claim.claimId, "the claimer stopped mid-send")) {
            unknown.inc(labels);
            log.warn("notice may not have been delivered: its sender stopped mid-send; not sending it again");
            return "unknown";
          }
          continue;
        case "busy":
          if (Date.now() > waitUntil) {
            throw new Error(`Cannot notify as another consumer still holds the claim: ${claim.claimedForMs} ms`);
          }
          await new Promise((resolve) => setTimeout(resolve, busyPollMs));
          continue;
        case "claimed":
          try {
            await sender.send(notice);
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            if (error instanceof DeliveryUnknownError) {
              if (await store.markUnknown(notice, claim.claimId, message)) unknown.inc(labels);
              log.warn("notice may not have been delivered: the channel lost track; not sending it again", {
                channel: sender.channel,
                error,
              });
              return "unknown";
            }
            failures.inc(labels);
            await store.markFailed(notice, claim.claimId, message);
            // An undeliverable notice travels up as is: the record goes to the dead-letter topic.
            if (error instanceof UndeliverableError) throw error;
            throw new Error(`Cannot notify as the ${sender.channel} channel failed`, { cause: error });
          }
          await markSent(notice, claim.claimId);
          sent.inc(labels);
          log.info("notice sent", { channel: sender.channel, attempt: claim.attempts });
          return "sent";
      }
    }
  };

  // The notice is out: keep trying to record that, so a brief database hiccup does not turn it into 'unknown'.
  const markSent = async (notice: Notification, claimId: string) => {
    for (let attempt = 1;; attempt++) {
      try {
        return await store.markSent(notice, claimId);
      } catch (error) {
        if (attempt >= MARK_SENT_ATTEMPTS_MAX) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  };

  return {
    async notify(event) {
      const outcomes: DeliveryOutcome[] = [];
      for (const notice of renderNotifications(event)) outcomes.push(await deliver(notice));
      return outcomes;
    },
  };
}
