/** Configuration of the notification program, from the environment only. */

import { type Env, envReader, LOG_LEVELS, type LogLevel } from "@securepay/shared";

export interface NotificationConfig {
  readonly adminHost: string;
  readonly adminPort: number;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
}

/** Parses the environment, reporting every bad variable at once. */
export function parseNotificationConfig(env: Env): NotificationConfig {
  const r = envReader(env);
  const config: NotificationConfig = {
    adminHost: r.string("ADMIN_HOST", "0.0.0.0"),
    adminPort: r.port("ADMIN_PORT", 8083),
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    shutdownTimeoutMs: r.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 100, max: 120_000 }),
  };
  r.done();
  return config;
}
