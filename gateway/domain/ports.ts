/**
 * What the gateway needs from the services behind it. The routes depend on
 * these interfaces only; `grpc/` implements them over gRPC.
 */

import type { Principal } from "@securepay/shared";
import type { Account, Deposit, LedgerEntry } from "@securepay/shared/gen/account";
import type { Payment, PaymentStatus } from "@securepay/shared/gen/payment";

export type { Account, Deposit, LedgerEntry, Payment, PaymentStatus };

/** Who is calling and how to trace it, forwarded on every downstream call. */
export interface CallContext {
  readonly requestId: string;
  readonly principal: Principal;
  /** The caller's `Authorization` header, forwarded as is. */
  readonly authorization: string;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Undefined on the last page. */
  readonly nextCursor: string | undefined;
}

export interface PageRequest {
  readonly limit: number;
  readonly cursor?: string;
}

export interface DepositResult {
  readonly deposit: Deposit;
  readonly account: Account;
  readonly replayed: boolean;
}

export interface PaymentResult {
  readonly payment: Payment;
  readonly replayed: boolean;
}

export interface AccountsPort {
  createAccount(input: { ownerId: string; currency: string }, context: CallContext): Promise<Account>;
  /** Throws AppError not_found for an unknown id. */
  getAccount(id: string, context: CallContext): Promise<Account>;
  listAccounts(input: PageRequest & { ownerId?: string }, context: CallContext): Promise<Page<Account>>;
  deposit(
    input: { accountId: string; amountMinor: number; idempotencyKey: string },
    context: CallContext,
  ): Promise<DepositResult>;
  listLedgerEntries(input: PageRequest & { accountId: string }, context: CallContext): Promise<Page<LedgerEntry>>;
}

export interface PaymentsPort {
  initiatePayment(
    input: {
      idempotencyKey: string;
      fromAccount: string;
      toAccount: string;
      amountMinor: number;
      currency: string;
      description?: string;
    },
    context: CallContext,
  ): Promise<PaymentResult>;
  /**
   * Requests the refund of a COMPLETED payment; answers the payment with its
   * refund PENDING. Throws payment_not_refundable, not_found, forbidden.
   */
  refundPayment(input: { paymentId: string; idempotencyKey: string }, context: CallContext): Promise<PaymentResult>;
  /** Throws AppError not_found for an unknown id. */
  getPayment(id: string, context: CallContext): Promise<Payment>;
  listPayments(
    input: PageRequest & { ownerId?: string; accountId?: string; status?: PaymentStatus },
    context: CallContext,
  ): Promise<Page<Payment>>;
}
