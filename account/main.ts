/** Composition root of the account program. */

import { ConfigError, createLogger, parseEach, redactUrl, shutdownSignal } from "@securepay/shared";
import { openProgramIdentity, parseProgramIdentity, type ProgramIdentity } from "@securepay/shared/spiffe";
import { parseAccountConfig, startAccountService } from "./mod.ts";

/** Runs the program until SIGINT/SIGTERM; returns the exit code. */
export async function main(env: Record<string, string | undefined>): Promise<number> {
  let config, identityConfig;
  try {
    [config, identityConfig] = parseEach([
      () => parseAccountConfig(env),
      () => parseProgramIdentity(env, [env.GRPC_HOST || "127.0.0.1"]),
    ]);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
  const logger = createLogger({ service: "account", level: config.logLevel });
  let identity: ProgramIdentity | undefined;
  let service;
  let code = 0;
  try {
    // The SVID comes first: without an identity no caller could be admitted.
    identity = await openProgramIdentity(identityConfig, { logger });
    service = await startAccountService(config, {
      logger,
      credentials: identity.serverCredentials("account-service"),
    });
  } catch (error) {
    await identity?.[Symbol.asyncDispose]();
    logger.error("Cannot start as a dependency failed", { error, database: redactUrl(config.databaseUrl) });
    return 1;
  }
  {
    await using _identity = identity;
    await using _service = service;
    logger.info("account ready", { grpc_port: service.grpcPort, admin_port: service.adminPort });
    // A consumer that stopped for good resumes only in a new process, from its last commit.
    const stop = await Promise.race([shutdownSignal(), service.fatal]);
    if (stop instanceof Error) {
      logger.error("stopping as the payment consumer cannot go on", { error: stop });
      code = 1;
    } else {
      logger.info("shutting down", { signal: stop });
    }
  }
  logger.info("stopped");
  return code;
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
