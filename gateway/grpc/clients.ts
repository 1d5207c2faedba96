/**
 * The ports of `domain/ports.ts` over gRPC. Every call carries a deadline,
 * the request id and the caller's bearer token in metadata; failures come
 * back as the AppError the service meant (`callUnary`).
 */

import { type ChannelCredentials, Metadata } from "@grpc/grpc-js";
import { AppError, callUnary, REQUEST_ID_METADATA } from "@securepay/shared";
import { type Account, AccountServiceClient, type Principal as AccountPrincipal } from "@securepay/shared/gen/account";
import { HealthCheckResponse_ServingStatus as ServingStatus, HealthClient } from "@securepay/shared/gen/health";
import { type Payment, PaymentServiceClient, PaymentStatus } from "@securepay/shared/gen/payment";
import type { AccountsPort, CallContext, PaymentsPort } from "../domain/ports.ts";

export interface GrpcClientOptions {
  /** `host:port`; dial host names, never IP literals, so TLS can check them later. */
  address: string;
  credentials: ChannelCredentials;
  /** The deadline of every call. */
  deadlineMs: number;
}

/** A downstream service: its port, a health check for readiness, and close. */
export interface Downstream<P> extends AsyncDisposable {
  readonly port: P;
  /** Resolves when grpc.health.v1 answers SERVING; throws otherwise. */
  checkHealth(): Promise<void>;
  close(): void;
}

const CHANNEL_OPTIONS = {
  "grpc.max_receive_message_length": 4 * 1024 * 1024,
  "grpc.keepalive_time_ms": 60_000,
  // Reconnect quickly after a neighbour restarts, but never hammer it.
  "grpc.initial_reconnect_backoff_ms": 200,
  "grpc.max_reconnect_backoff_ms": 5_000,
};

function metadataOf(context: CallContext): Metadata {
  const metadata = new Metadata();
  metadata.set(REQUEST_ID_METADATA, context.requestId);
  metadata.set("authorization", context.authorization);
  return metadata;
}

function principalOf(context: CallContext): AccountPrincipal {
  return { subject: context.principal.subject, roles: [...context.principal.roles] };
}

function required<T>(value: T | undefined, what: string): T {
  // A service answering without the message it promised is a bug on its side.
  if (value === undefined) throw new AppError("internal", "internal error", { cause: new Error(`missing ${what}`) });
  return value;
}

function healthCheck(options: GrpcClientOptions): { check(): Promise<void>; close(): void } {
  const client = new HealthClient(options.address, options.credentials, CHANNEL_OPTIONS);
  return {
    async check() {
      const response = await callUnary(client, client.check, { service: "" }, { deadlineMs: options.deadlineMs });
      if (response.status !== ServingStatus.SERVING) {
        throw new Error(`Cannot use ${options.address} as its health is ${response.status}`);
      }
    },
    close: () => client.close(),
  };
}

export function grpcAccounts(options: GrpcClientOptions): Downstream<AccountsPort> {
  const client = new AccountServiceClient(options.address, options.credentials, CHANNEL_OPTIONS);
  const health = healthCheck(options);
  const call = <Req, Res>(
    method: Parameters<typeof callUnary<AccountServiceClient, Req, Res>>[1],
    request: Req,
    context: CallContext,
  ) => callUnary(client, method, request, { deadlineMs: options.deadlineMs, metadata: metadataOf(context) });

  const port: AccountsPort = {
    async createAccount(input, context) {
      const response = await call(client.createAccount, {
        ownerId: input.ownerId,
        currency: input.currency,
        principal: principalOf(context),
      }, context);
      return required(response.account, "account");
    },
    async getAccount(id, context) {
      const response = await call(client.getAccount, { id }, context);
      return required(response.account, "account");
    },
    async listAccounts(input, context) {
      const response = await call(client.listAccounts, {
        ownerId: input.ownerId ?? "",
        limit: input.limit,
        cursor: input.cursor ?? "",
      }, context);
      return { items: response.accounts, nextCursor: response.nextCursor || undefined };
    },
    async deposit(input, context) {
      const response = await call(client.deposit, {
        accountId: input.accountId,
        amount: input.amountMinor,
        idempotencyKey: input.idempotencyKey,
        principal: principalOf(context),
      }, context);
      return {
        deposit: required(response.deposit, "deposit"),
        account: required<Account>(response.account, "account"),
        replayed: response.replayed,
      };
    },
    async listLedgerEntries(input, context) {
      const response = await call(client.listLedgerEntries, {
        accountId: input.accountId,
        limit: input.limit,
        cursor: input.cursor ?? "",
      }, context);
      return { items: response.entries, nextCursor: response.nextCursor || undefined };
    },
  };
  const close = () => {
    client.close();
    health.close();
  };
  return { port, checkHealth: health.check, close, [Symbol.asyncDispose]: () => Promise.resolve(close()) };
}

export function grpcPayments(options: GrpcClientOptions): Downstream<PaymentsPort> {
  const client = new PaymentServiceClient(options.address, options.credentials, CHANNEL_OPTIONS);
  const health = healthCheck(options);
  const call = <Req, Res>(
    method: Parameters<typeof callUnary<PaymentServiceClient, Req, Res>>[1],
    request: Req,
    context: CallContext,
  ) => callUnary(client, method, request, { deadlineMs: options.deadlineMs, metadata: metadataOf(context) });

  const port: PaymentsPort = {
    async initiatePayment(input, context) {
      const response = await call(client.initiatePayment, {
        principal: principalOf(context),
        idempotencyKey: input.idempotencyKey,
        fromAccount: input.fromAccount,
        toAccount: input.toAccount,
        amount: input.amountMinor,
        currency: input.currency,
        description: input.description ?? "",
      }, context);
      return { payment: required<Payment>(response.payment, "payment"), replayed: response.replayed };
    },
    async refundPayment(input, context) {
      const response = await call(client.refundPayment, {
        principal: principalOf(context),
        idempotencyKey: input.idempotencyKey,
        paymentId: input.paymentId,
      }, context);
      return { payment: required<Payment>(response.payment, "payment"), replayed: response.replayed };
    },
    async getPayment(id, context) {
      const response = await call(client.getPayment, { id }, context);
      return required(response.payment, "payment");
    },
    async listPayments(input, context) {
      const response = await call(client.listPayments, {
        ownerId: input.ownerId ?? "",
        accountId: input.accountId ?? "",
        status: input.status ?? PaymentStatus.PAYMENT_STATUS_UNSPECIFIED,
        limit: input.limit,
        cursor: input.cursor ?? "",
      }, context);
      return { items: response.payments, nextCursor: response.nextCursor || undefined };
    },
  };
  const close = () => {
    client.close();
    health.close();
  };
  return { port, checkHealth: health.check, close, [Symbol.asyncDispose]: () => Promise.resolve(close()) };
}
