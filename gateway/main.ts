/** Composition root of the gateway program. */

import { ConfigError, createLogger, parseEach, shutdownSignal } from "@securepay/shared";
import { openProgramIdentity, parseProgramIdentity, type ProgramIdentity } from "@securepay/shared/spiffe";
import { parseGatewayConfig, startGateway } from "./mod.ts";

export async function main(env: Record<string, string | undefined>): Promise<number> {
  let config, identityConfig;
  try {
    [config, identityConfig] = parseEach([
      () => parseGatewayConfig(env),
      () =>
        parseProgramIdentity(env, [
          env.PAYMENT_SERVICE_ADDR || "localhost:8081",
          env.ACCOUNT_SERVICE_ADDR || "localhost:50051",
        ]),
    ]);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({ service: "gateway", level: config.logLevel });
  let identity: ProgramIdentity;
  try {
    identity = await openProgramIdentity(identityConfig, { logger });
  } catch (error) {
    logger.error("Cannot start as the workload identity is unavailable", { error });
    return 1;
  }
  {
    await using _identity = identity;
    await using _gateway = startGateway(config, {
      logger,
      paymentCredentials: identity.clientCredentials("payment-service"),
      accountCredentials: identity.clientCredentials("account-service"),
    });
    logger.info("gateway ready");
    const signal = await shutdownSignal();
    logger.info("shutting down", { signal });
  }
  logger.info("stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
