/**
 * AccountsPort over gRPC: the generated AccountService client with a
 * deadline on every call and the caller's request id and authorization
 * forwarded in metadata.
 */

import { type ChannelCredentials, Metadata } from "@grpc/grpc-js";
import { AppError, callUnary, REQUEST_ID_METADATA } from "@securepay/shared";
import {
  type Account,
  AccountServiceClient,
  AccountStatus,
  type CheckFundsRequest,
  type CheckFundsResponse,
  type GetAccountRequest,
  type GetAccountResponse,
} from "@securepay/shared/gen/account";
import {
  type HealthCheckRequest,
  type HealthCheckResponse,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthClient,
} from "@securepay/shared/gen/health";
import type { AccountSnapshot, AccountsPort, RequestContext } from "../domain/ports.ts";

const HEALTH_DEADLINE_MAX_MS = 1_500;

export interface AccountClientOptions {
  /** `host:port` of AccountService. */
  readonly address: string;
  /** Insecure until mTLS lands; the caller decides. */
  readonly credentials: ChannelCredentials;
  readonly deadlineMs: number;
}

export interface AccountClient extends AccountsPort, AsyncDisposable {
  /** Resolves when AccountService reports SERVING through grpc.health.v1. */
  checkHealth(): Promise<void>;
  close(): void;
}

export function createAccountClient(options: AccountClientOptions): AccountClient {
  const client = new AccountServiceClient(options.address, options.credentials, {
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
  });
  // The health client rides on the same channel, so readiness tests the connection calls use.
  const health = new HealthClient(options.address, options.credentials, { channelOverride: client.getChannel() });
  const deadlineMs = options.deadlineMs;

  const metadataOf = (context: RequestContext): Metadata => {
    const metadata = new Metadata();
    metadata.set(REQUEST_ID_METADATA, context.requestId);
    if (context.authorization) metadata.set("authorization", context.authorization);
    if (context.traceparent) metadata.set("traceparent", context.traceparent);
    return metadata;
  };

  const close = () => {
    health.close();
    client.close();
  };

  return {
    async getAccount(accountId, context) {
      const response = await callUnary<AccountServiceClient, GetAccountRequest, GetAccountResponse>(
        client,
        client.getAccount,
        { id: accountId },
        { deadlineMs, metadata: metadataOf(context) },
      );
      return snapshot(response.account);
    },

    async checkFunds(check, context) {
      const response = await callUnary<AccountServiceClient, CheckFundsRequest, CheckFundsResponse>(
        client,
        client.checkFunds,
        { accountId: check.accountId, amount: check.amountMinor, currency: check.currency },
        { deadlineMs, metadata: metadataOf(context) },
      );
      return { sufficient: response.sufficient, account: snapshot(response.account) };
    },

    async checkHealth() {
      const response = await callUnary<HealthClient, HealthCheckRequest, HealthCheckResponse>(
        health,
        health.check,
        { service: "" },
        // Readiness probes are bounded more tightly than calls: the admin server gives up after 2 s.
        { deadlineMs: Math.min(deadlineMs, HEALTH_DEADLINE_MAX_MS) },
      );
      if (response.status !== ServingStatus.SERVING) {
        throw new Error(`Cannot call AccountService as it reports status ${response.status}`);
      }
    },

    close,
    [Symbol.asyncDispose]: () => {
      close();
      return Promise.resolve();
    },
  };
}

function snapshot(account: Account | undefined): AccountSnapshot {
  if (!account) {
    throw new AppError("internal", "internal error", {
      cause: new Error("Cannot read an AccountService answer as it carries no account"),
    });
  }
  return {
    id: account.id,
    ownerId: account.ownerId,
    currency: account.currency,
    balanceMinor: account.balance,
    // Anything but an explicit OPEN is treated as closed: money never moves on a guess.
    status: account.status === AccountStatus.ACCOUNT_STATUS_OPEN ? "OPEN" : "CLOSED",
  };
}
