/**
 * The real neighbours for component tests: the account and payment
 * programs started as child processes (their main.ts, as an operator
 * would) on one fresh PostgreSQL database, and the gateway app in front of
 * them through real gRPC clients.
 */

import { freePort, type ProgramHandle, spawnProgram, type TestDatabase } from "@securepay/shared/testing";
import { createTestDatabase } from "@securepay/shared/testing";
import { type Harness, startHarness } from "./_harness.ts";

export interface Services extends Harness {
  readonly database: TestDatabase;
  readonly account: ProgramHandle;
  readonly payment: ProgramHandle;
  /** Rows the services stored so far, to prove that a refused request stored nothing. */
  counts(): Promise<{ accounts: number; ledgerEntries: number; payments: number; outbox: number }>;
}

export async function spawnService(name: "account" | "payment", env: Record<string, string>) {
  const grpcPort = freePort();
  const adminPort = freePort();
  const program = await spawnProgram(name, {
    main: `${name}/main.ts`,
    env: {
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: String(grpcPort),
      ADMIN_HOST: "127.0.0.1",
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: "warn",
      SHUTDOWN_TIMEOUT_MS: "5000",
      ...env,
    },
    adminPort,
    readyTimeoutMs: 60_000,
  });
  return { program, address: `localhost:${grpcPort}` };
}

export async function startServices(options: { paymentEnv?: Record<string, string> } = {}): Promise<Services> {
  const cleanup: (() => PromiseLike<unknown>)[] = [];
  const dispose = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  try {
    const database = await createTestDatabase();
    cleanup.push(() => database[Symbol.asyncDispose]());
    const account = await spawnService("account", { DATABASE_URL: database.url });
    cleanup.push(() => account.program.stop());
    const payment = await spawnService("payment", {
      DATABASE_URL: database.url,
      ACCOUNT_SERVICE_ADDR: account.address,
      ...options.paymentEnv,
    });
    cleanup.push(() => payment.program.stop());
    const harness = await startHarness({ accountAddr: account.address, paymentAddr: payment.address });
    cleanup.push(() => harness[Symbol.asyncDispose]());

    const sql = database.db.sql;
    return {
      ...harness,
      database,
      account: account.program,
      payment: payment.program,
      async counts() {
        const [row] = await sql`
          select (select count(*) from accounts.balances)::int as accounts,
                 (select count(*) from accounts.ledger_entries)::int as ledger_entries,
                 (select count(*) from payments.transactions)::int as payments,
                 (select count(*) from payments.outbox)::int as outbox`;
        return {
          accounts: row!.accounts,
          ledgerEntries: row!.ledger_entries,
          payments: row!.payments,
          outbox: row!.outbox,
        };
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}
