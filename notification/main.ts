/** Composition root of the notification program. */

import { ConfigError, createLogger, redactUrl, shutdownSignal } from "@securepay/shared";
import { parseNotificationConfig, startNotificationService } from "./mod.ts";

/** Runs the program until SIGINT/SIGTERM (exit 0) or until its consumer stops for good (exit 1). */
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
  let fatal: (error: Error) => void = () => {};
  const stopped = new Promise<Error>((resolve) => fatal = resolve);
  let service;
  try {
    service = await startNotificationService(config, { logger, onFatal: (error) => fatal(error) });
  } catch (error) {
    logger.error("Cannot start as a dependency failed", { error, database: redactUrl(config.databaseUrl) });
    return 1;
  }
  let code = 0;
  {
    await using _service = service;
    logger.info("notification ready", { admin_port: service.adminPort });
    const outcome = await Promise.race([shutdownSignal(), stopped]);
    if (outcome instanceof Error) {
      logger.error("stopping as the consumer stopped for good", { error: outcome });
      code = 1;
    } else {
      logger.info("shutting down", { signal: outcome });
    }
  }
  logger.info("stopped");
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
