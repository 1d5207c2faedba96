/**
 * AccountService over gRPC: validates each message, runs the use case on
 * the store, and maps domain objects to protobuf. Statuses are chosen only
 * by the shared error table (through `unary()`).
 */

import {
  AppError,
  type Cursor,
  encodeCursor,
  type GrpcServiceBinding,
  type Logger,
  type MetricsRegistry,
  notFound,
  unary,
  type UnaryHandler,
} from "@securepay/shared";
import {
  type Account as AccountMessage,
  AccountServiceService,
  AccountStatus as AccountStatusMessage,
  type CheckFundsRequest,
  type CheckFundsResponse,
  type CreateAccountRequest,
  type CreateAccountResponse,
  type Deposit as DepositMessage,
  type DepositRequest,
  type DepositResponse,
  type GetAccountRequest,
  type GetAccountResponse,
  type LedgerEntry as LedgerEntryMessage,
  LedgerEntryKind as LedgerEntryKindMessage,
  type ListAccountsRequest,
  type ListAccountsResponse,
  type ListLedgerEntriesRequest,
  type ListLedgerEntriesResponse,
} from "@securepay/shared/gen/account";
import type { Account, AccountStore, Deposit, LedgerEntry, LedgerEntryKind } from "../domain/account.ts";
import { depositFingerprint, hasSufficientFunds } from "../domain/rules.ts";
import {
  parseCheckFunds,
  parseCreateAccount,
  parseDeposit,
  parseGetAccount,
  parseListAccounts,
  parseListLedgerEntries,
} from "./requests.ts";

export interface AccountHandlersOptions {
  readonly store: AccountStore;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
}

/** The AccountService binding for `serveGrpc`. */
export function accountServiceBinding(options: AccountHandlersOptions): GrpcServiceBinding {
  const { store } = options;
  const requests = options.metrics.counter(
    "securepay_grpc_server_requests_total",
    "gRPC calls handled, by method and SecurePay code (ok on success)",
  );
  const durations = options.metrics.histogram(
    "securepay_grpc_server_request_duration_seconds",
    "Time to answer a gRPC call, by method",
  );

  function handle<Req, Res>(method: string, handler: UnaryHandler<Req, Res>) {
    return unary<Req, Res>(method, options.logger, async (request, context) => {
      const started = performance.now();
      let code = "ok";
      try {
        return await handler(request, context);
      } catch (error) {
        code = error instanceof AppError ? error.code : "internal";
        throw error;
      } finally {
        const seconds = (performance.now() - started) / 1000;
        requests.inc({ method, code });
        durations.observe(seconds, { method });
        context.logger.debug("rpc answered", { code, duration_ms: Math.round(seconds * 1000) });
      }
    });
  }

  return {
    definition: AccountServiceService,
    implementation: {
      createAccount: handle<CreateAccountRequest, CreateAccountResponse>("CreateAccount", async (request, context) => {
        const input = parseCreateAccount(request);
        const account = await store.createAccount(input);
        context.logger.info("account opened", { account_id: account.id, currency: account.currency });
        return { account: toAccountMessage(account) };
      }),

      getAccount: handle<GetAccountRequest, GetAccountResponse>("GetAccount", async (request) => {
        const { id } = parseGetAccount(request);
        const account = await store.getAccount(id);
        if (account === undefined) throw notFound("Account");
        return { account: toAccountMessage(account) };
      }),

      listAccounts: handle<ListAccountsRequest, ListAccountsResponse>("ListAccounts", async (request) => {
        const page = await store.listAccounts(parseListAccounts(request));
        return { accounts: page.items.map(toAccountMessage), nextCursor: cursorText(page.next) };
      }),

      checkFunds: handle<CheckFundsRequest, CheckFundsResponse>("CheckFunds", async (request) => {
        const input = parseCheckFunds(request);
        const account = await store.getAccount(input.accountId);
        if (account === undefined) throw notFound("Account");
        const sufficient = hasSufficientFunds(account, input);
        return { sufficient, account: toAccountMessage(account) };
      }),

      deposit: handle<DepositRequest, DepositResponse>("Deposit", async (request, context) => {
        const input = parseDeposit(request);
        const fingerprint = await depositFingerprint(input);
        const result = await store.deposit({ ...input, fingerprint });
        context.logger.info(result.replayed ? "deposit replayed" : "deposit booked", {
          deposit_id: result.deposit.id,
          account_id: result.account.id,
          amount: result.deposit.amount,
          currency: result.deposit.currency,
        });
        return {
          deposit: toDepositMessage(result.deposit),
          account: toAccountMessage(result.account),
          replayed: result.replayed,
        };
      }),

      listLedgerEntries: handle<ListLedgerEntriesRequest, ListLedgerEntriesResponse>(
        "ListLedgerEntries",
        async (request) => {
          const page = await store.listLedgerEntries(parseListLedgerEntries(request));
          return { entries: page.items.map(toLedgerEntryMessage), nextCursor: cursorText(page.next) };
        },
      ),
    },
  };
}

function cursorText(cursor: Cursor | undefined): string {
  return cursor === undefined ? "" : encodeCursor(cursor);
}

export function toAccountMessage(account: Account): AccountMessage {
  return {
    id: account.id,
    ownerId: account.ownerId,
    currency: account.currency,
    balance: account.balance,
    version: account.version,
    status: account.status === "OPEN"
      ? AccountStatusMessage.ACCOUNT_STATUS_OPEN
      : AccountStatusMessage.ACCOUNT_STATUS_CLOSED,
    createdAt: account.createdAt.toISOString(),
    updatedAt: account.updatedAt.toISOString(),
  };
}

const KIND_MESSAGES: Record<LedgerEntryKind, LedgerEntryKindMessage> = {
  DEPOSIT: LedgerEntryKindMessage.LEDGER_ENTRY_KIND_DEPOSIT,
  DEBIT: LedgerEntryKindMessage.LEDGER_ENTRY_KIND_DEBIT,
  CREDIT: LedgerEntryKindMessage.LEDGER_ENTRY_KIND_CREDIT,
  REFUND_DEBIT: LedgerEntryKindMessage.LEDGER_ENTRY_KIND_REFUND_DEBIT,
  REFUND_CREDIT: LedgerEntryKindMessage.LEDGER_ENTRY_KIND_REFUND_CREDIT,
};

export function toLedgerEntryMessage(entry: LedgerEntry): LedgerEntryMessage {
  return {
    id: entry.id,
    accountId: entry.accountId,
    amount: entry.amount,
    currency: entry.currency,
    kind: KIND_MESSAGES[entry.kind],
    paymentId: entry.paymentId ?? "",
    depositId: entry.depositId ?? "",
    balanceAfter: entry.balanceAfter,
    createdAt: entry.createdAt.toISOString(),
  };
}

export function toDepositMessage(deposit: Deposit): DepositMessage {
  return {
    id: deposit.id,
    accountId: deposit.accountId,
    amount: deposit.amount,
    currency: deposit.currency,
    createdAt: deposit.createdAt.toISOString(),
  };
}
