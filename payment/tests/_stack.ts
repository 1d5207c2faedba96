/**
 * The payment service composed for component tests: a fresh database, the
 * real account program as a child process, the payment service in-process,
 * and gRPC clients for both.
 */

import { credentials } from "@grpc/grpc-js";
import { AppError, callUnary, createLogger, type Logger, silentLogger } from "@securepay/shared";
import {
  type Account,
  AccountServiceClient,
  type CreateAccountRequest,
  type CreateAccountResponse,
  type DepositRequest,
  type DepositResponse,
} from "@securepay/shared/gen/account";
import {
  type GetPaymentRequest,
  type GetPaymentResponse,
  type InitiatePaymentRequest,
  type InitiatePaymentResponse,
  type ListPaymentsRequest,
  type ListPaymentsResponse,
  PaymentServiceClient,
  type RefundPaymentRequest,
  type RefundPaymentResponse,
} from "@securepay/shared/gen/payment";
import type { IdempotencyStore } from "@securepay/shared/idempotency";
import { freePort, type ProgramHandle, spawnProgram, type TestDatabase } from "@securepay/shared/testing";
import { parsePaymentConfig, type PaymentServiceHandle, startPaymentService } from "../mod.ts";
import { createPaymentDatabase } from "./_database.ts";

export interface StackOptions {
  /** Point payment at this address instead of starting the account program. */
  readonly accountAddr?: string;
  readonly deadlineMs?: number;
  /** More environment for the payment service (REDIS_URL, KAFKA_BROKERS, …). */
  readonly env?: Readonly<Record<string, string>>;
  readonly idempotencyStore?: IdempotencyStore;
}

export interface Stack extends AsyncDisposable {
  readonly database: TestDatabase;
  readonly payment: PaymentServiceHandle;
  readonly account?: ProgramHandle;
  readonly accountClient?: AccountServiceClient;
  readonly paymentClient: PaymentServiceClient;
  initiate(request: Partial<InitiatePaymentRequest>): Promise<InitiatePaymentResponse>;
  get(id: string): Promise<GetPaymentResponse>;
  list(request: Partial<ListPaymentsRequest>): Promise<ListPaymentsResponse>;
  /** RefundPayment as SUPPORT unless the request names another principal. */
  refund(request: Partial<RefundPaymentRequest>): Promise<RefundPaymentResponse>;
  /** Opens an account through AccountService and deposits `balance` into it. */
  openAccount(ownerId: string, currency: string, balance?: number): Promise<Account>;
  /** Rows in payments.transactions and payments.outbox. */
  counts(): Promise<{ transactions: number; outbox: number }>;
}

/** Set PAYMENT_TEST_LOGS=1 to see the service's logs while debugging. */
function testLogger(): Logger {
  return Deno.env.get("PAYMENT_TEST_LOGS") ? createLogger({ service: "payment", level: "debug" }) : silentLogger;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  const dispose = async () => {
    for (const step of cleanup.reverse()) await step();
  };
  try {
    const database = await createPaymentDatabase();
    cleanup.push(() => database[Symbol.asyncDispose]());

    let accountAddr = options.accountAddr;
    let account: ProgramHandle | undefined;
    let accountClient: AccountServiceClient | undefined;
    if (accountAddr === undefined) {
      const grpcPort = freePort();
      const adminPort = freePort();
      account = await spawnProgram("account", {
        main: "account/main.ts",
        env: {
          GRPC_HOST: "127.0.0.1",
          GRPC_PORT: String(grpcPort),
          ADMIN_HOST: "127.0.0.1",
          ADMIN_PORT: String(adminPort),
          DATABASE_URL: database.url,
          DATABASE_POOL_MAX: "20",
          LOG_LEVEL: "warn",
        },
        adminPort,
      });
      const started = account;
      cleanup.push(() => started.stop());
      accountAddr = `localhost:${grpcPort}`;
      const client = new AccountServiceClient(accountAddr, credentials.createInsecure());
      cleanup.push(() => client.close());
      accountClient = client;
    }

    const config = parsePaymentConfig({
      GRPC_HOST: "127.0.0.1",
      GRPC_PORT: "0",
      ADMIN_HOST: "127.0.0.1",
      ADMIN_PORT: "0",
      DATABASE_URL: database.url,
      DATABASE_POOL_MAX: "20",
      ACCOUNT_SERVICE_ADDR: accountAddr,
      GRPC_DEADLINE_MS: String(options.deadlineMs ?? 5_000),
      SHUTDOWN_TIMEOUT_MS: "5000",
      ...options.env,
    });
    const payment = await startPaymentService(config, {
      logger: testLogger(),
      idempotencyStore: options.idempotencyStore,
    });
    cleanup.push(() => payment[Symbol.asyncDispose]());
    const paymentClient = new PaymentServiceClient(`localhost:${payment.grpcPort}`, credentials.createInsecure());
    cleanup.push(() => paymentClient.close());

    const sql = database.db.sql;
    return {
      database,
      payment,
      account,
      accountClient,
      paymentClient,
      initiate: (request) =>
        callUnary<PaymentServiceClient, InitiatePaymentRequest, InitiatePaymentResponse>(
          paymentClient,
          paymentClient.initiatePayment,
          {
            principal: { subject: "alice", roles: ["USER"] },
            idempotencyKey: crypto.randomUUID(),
            fromAccount: "",
            toAccount: "",
            amount: 0,
            currency: "EUR",
            description: "",
            ...request,
          },
          { deadlineMs: 20_000 },
        ),
      get: (id) =>
        callUnary<PaymentServiceClient, GetPaymentRequest, GetPaymentResponse>(
          paymentClient,
          paymentClient.getPayment,
          { id },
        ),
      list: (request) =>
        callUnary<PaymentServiceClient, ListPaymentsRequest, ListPaymentsResponse>(
          paymentClient,
          paymentClient.listPayments,
          { ownerId: "", accountId: "", status: 0, limit: 0, cursor: "", ...request },
        ),
      refund: (request) =>
        callUnary<PaymentServiceClient, RefundPaymentRequest, RefundPaymentResponse>(
          paymentClient,
          paymentClient.refundPayment,
          {
            principal: { subject: "support-1", roles: ["SUPPORT"] },
            idempotencyKey: crypto.randomUUID(),
            paymentId: "",
            ...request,
          },
          { deadlineMs: 20_000 },
        ),
      async openAccount(ownerId, currency, balance = 0) {
        if (!accountClient) throw new Error("Cannot open an account as this stack has no account program");
        const created = await callUnary<AccountServiceClient, CreateAccountRequest, CreateAccountResponse>(
          accountClient,
          accountClient.createAccount,
          { ownerId, currency, principal: { subject: "admin", roles: ["ADMIN"] } },
        );
        if (balance === 0) return created.account!;
        const deposited = await callUnary<AccountServiceClient, DepositRequest, DepositResponse>(
          accountClient,
          accountClient.deposit,
          {
            accountId: created.account!.id,
            amount: balance,
            idempotencyKey: crypto.randomUUID(),
            principal: { subject: "admin", roles: ["ADMIN"] },
          },
        );
        return deposited.account!;
      },
      async counts() {
        const [row] = await sql<{ transactions: number; outbox: number }[]>`
          select (select count(*) from payments.transactions) as transactions,
                 (select count(*) from payments.outbox) as outbox`;
        return { ...row! };
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/** Asserts that `promise` fails with the SecurePay `code`, and returns the error. */
export async function failsWith(promise: Promise<unknown>, code: string): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError && error.code === code) return error;
    throw new Error(`Expected ${code}, got ${error instanceof AppError ? error.code : error}`, { cause: error });
  }
  throw new Error(`Expected ${code}, but the call succeeded`);
}
