/**
 * The default channel: each notice becomes one JSON log line. It carries
 * the notice as the owner would read it and nothing else (no tokens, no
 * addresses of infrastructure).
 */

import type { Logger } from "@securepay/shared";
import type { NotificationSender } from "../domain/notification.ts";

export function logSender(logger: Logger): NotificationSender {
  return {
    channel: "log",
    sendTimeoutMs: 1_000,
    send(notice) {
      logger.info("notification", {
        channel: "log",
        event_id: notice.eventId,
        event_type: notice.eventType,
        payment_id: notice.paymentId,
        recipient: notice.role,
        owner_id: notice.ownerId,
        subject: notice.subject,
        body: notice.body,
      });
      return Promise.resolve();
    },
  };
}
