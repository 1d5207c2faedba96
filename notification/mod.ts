/**
 * @module
 * The notification program: consumes payment events and notifies the
 * account owner. Event consumption arrives with the payment lifecycle; for
 * now the program runs, serves its admin endpoints and stops cleanly.
 */

import { type AdminServer, type Logger, MetricsRegistry, serveAdmin, ShutdownStack } from "@securepay/shared";
import type { NotificationConfig } from "./config.ts";

export { type NotificationConfig, parseNotificationConfig } from "./config.ts";

export interface NotificationService extends AsyncDisposable {
  readonly adminPort: number;
}

export function startNotificationService(
  config: NotificationConfig,
  options: { logger: Logger },
): NotificationService {
  const stack = new ShutdownStack({
    timeoutMs: config.shutdownTimeoutMs,
    onError: (name, error) => options.logger.error("shutdown step failed", { step: name, error }),
  });
  const metrics = new MetricsRegistry();
  metrics.gauge("securepay_up", "1 while the program runs").set(1, { service: "notification" });
  const admin: AdminServer = stack.use(
    "admin",
    serveAdmin({ host: config.adminHost, port: config.adminPort, logger: options.logger, metrics }),
  );
  return {
    adminPort: admin.port,
    [Symbol.asyncDispose]: async () => {
      admin.drain();
      await stack[Symbol.asyncDispose]();
    },
  };
}
