/** Starts the account service in-process on a fresh database, with a real gRPC client. */

import { credentials } from "@grpc/grpc-js";
import { silentLogger } from "@securepay/shared";
import { AccountServiceClient } from "@securepay/shared/gen/account";
import { createTestDatabase, type TestDatabase } from "@securepay/shared/testing";
import {
  type AccountConfig,
  type AccountServiceHandle,
  startAccountService,
  type StartAccountServiceOptions,
} from "../mod.ts";

export interface Fixture extends AsyncDisposable {
  readonly database: TestDatabase;
  readonly service: AccountServiceHandle;
  readonly client: AccountServiceClient;
  readonly config: AccountConfig;
}

export function testConfig(databaseUrl: string): AccountConfig {
  return {
    grpcHost: "127.0.0.1",
    grpcPort: 0,
    adminHost: "127.0.0.1",
    adminPort: 0,
    databaseUrl,
    databasePoolMax: 10,
    databasePreparedStatements: true,
    logLevel: "error",
    shutdownTimeoutMs: 5_000,
    kafka: undefined,
    redisUrl: undefined,
    balanceCache: { keyPrefix: "unused:", ttlMs: 60_000, redisTimeoutMs: 250, entriesMax: 1000 },
  };
}

export async function startFixture(
  options: { configure?: (config: AccountConfig) => AccountConfig; services?: Partial<StartAccountServiceOptions> } =
    {},
): Promise<Fixture> {
  const database = await createTestDatabase();
  const config = (options.configure ?? ((c) => c))(testConfig(database.url));
  let service: AccountServiceHandle;
  try {
    service = await startAccountService(config, { logger: silentLogger, ...options.services });
  } catch (error) {
    await database[Symbol.asyncDispose]();
    throw error;
  }
  const client = new AccountServiceClient(`localhost:${service.grpcPort}`, credentials.createInsecure());
  return {
    database,
    service,
    client,
    config,
    [Symbol.asyncDispose]: async () => {
      client.close();
      await service[Symbol.asyncDispose]();
      await database[Symbol.asyncDispose]();
    },
  };
}
