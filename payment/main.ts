/**
 * The payment service's composition root: reads the environment, starts
 * the service, and stops it cleanly on SIGINT or SIGTERM.
 */

import { ConfigError, createLogger, parseEach, shutdownSignal } from "@securepay/shared";
import { openProgramIdentity, parseProgramIdentity } from "@securepay/shared/spiffe";
import { parsePaymentConfig, PAYMENT_DEFAULTS } from "./config.ts";
import { startPaymentService } from "./mod.ts";

export async function main(env: Record<string, string | undefined>): Promise<number> {
  let config, identityConfig;
  try {
    [config, identityConfig] = parseEach([
      () => parsePaymentConfig(env),
      () =>
        parseProgramIdentity(env, [
          env.GRPC_HOST || "127.0.0.1",
          env.ACCOUNT_SERVICE_ADDR || PAYMENT_DEFAULTS.accountServiceAddr,
        ]),
    ]);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({ service: "payment", level: config.logLevel });
  try {
    // The SVID comes first: it admits the gateway and proves us to account.
    await using identity = await openProgramIdentity(identityConfig, { logger });
    await using service = await startPaymentService(config, {
      logger,
      serverCredentials: identity.serverCredentials("payment-service"),
      accountCredentials: identity.clientCredentials("account-service"),
    });
    logger.info("payment ready", { grpc_port: service.grpcPort, admin_port: service.adminPort });
    const stop = await Promise.race([shutdownSignal(), service.fatal]);
    if (stop instanceof Error) return 1;
    logger.info("signal received", { signal: stop });
  } catch (error) {
    logger.error("payment service failed", { error });
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
