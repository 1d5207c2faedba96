/** Composition root of the notification program. */

import { ConfigError, createLogger, shutdownSignal } from "@securepay/shared";
import { parseNotificationConfig, startNotificationService } from "./mod.ts";

export async function main(env: Record<string, string | undefined>): Promise<number> {
  let config;
  try {
    config = parseNotificationConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({ service: "notification", level: config.logLevel });
  {
    await using _service = startNotificationService(config, { logger });
    logger.info("notification ready");
    const signal = await shutdownSignal();
    logger.info("shutting down", { signal });
  }
  logger.info("stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
