/** Composition root of the gateway program. */

import { ConfigError, createLogger, shutdownSignal } from "@securepay/shared";
import { parseGatewayConfig, startGateway } from "./mod.ts";

export async function main(env: Record<string, string | undefined>): Promise<number> {
  let config;
  try {
    config = parseGatewayConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({ service: "gateway", level: config.logLevel });
  {
    await using _gateway = startGateway(config, { logger });
    logger.info("gateway ready");
    const signal = await shutdownSignal();
    logger.info("shutting down", { signal });
  }
  logger.info("stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
