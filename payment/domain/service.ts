/**
 * The payment core: accepting a payment (validation, idempotency, the
 * account checks, one transaction for the row and its event), and reading
 * payments back. No I/O of its own: everything goes through the ports.
 */

import {
  AppError,
  type Cursor,
  decodeCursor,
  encodeCursor,
  isUuid,
  pageLimit,
  validationError,
} from "@securepay/shared";
import { paymentInitiatedMessage, refundInitiatedMessage } from "./events.ts";
import type { IdempotentClaim } from "./idempotent.ts";
import {
  assertValidInitiatePayment,
  assertValidRefundPayment,
  type InitiatePaymentInput,
  normalizeInitiatePayment,
  type Payment,
  type PaymentStatus,
  refundFingerprint,
  type RefundPaymentInput,
  requestFingerprint,
  type StoredPayment,
} from "./payment.ts";
import type { AccountSnapshot, AccountsPort, PaymentStore, RequestContext } from "./ports.ts";

export interface PaymentServiceDeps {
  readonly store: PaymentStore;
  readonly accounts: AccountsPort;
  /** Time of acceptance; the system clock unless a test pins it. */
  readonly clock?: () => Date;
  readonly newId?: () => string;
}

export interface InitiatePaymentResult {
  readonly payment: Payment;
  /** True when this answers a repeated (principal, idempotency key). */
  readonly replayed: boolean;
}

export interface ListPaymentsInput {
  readonly ownerId?: string;
  readonly accountId?: string;
  readonly status?: PaymentStatus;
  readonly limit?: number;
  readonly cursor?: string;
}

export interface PaymentListing {
  readonly payments: readonly Payment[];
  readonly nextCursor: string | null;
}

export interface PaymentService {
  /** Validates an InitiatePayment request and names its Idempotency-Key claim; throws validation_error. */
  initiatePaymentClaim(input: InitiatePaymentInput): Promise<IdempotentClaim>;
  initiatePayment(input: InitiatePaymentInput, context: RequestContext): Promise<InitiatePaymentResult>;
  /** Validates a RefundPayment request and names its claim; throws validation_error or forbidden. */
  refundPaymentClaim(input: RefundPaymentInput): Promise<IdempotentClaim>;
  /**
   * Requests the one refund a COMPLETED payment may have: records it and its
   * payment.refund.initiated event together, and answers the payment (still
   * COMPLETED, refund PENDING). Throws payment_not_refundable otherwise.
   */
  refundPayment(input: RefundPaymentInput, context: RequestContext): Promise<InitiatePaymentResult>;
  getPayment(id: string): Promise<Payment>;
  listPayments(input: ListPaymentsInput): Promise<PaymentListing>;
}

const OWNER_ID_MAX_CHARS = 255;

export function createPaymentService(deps: PaymentServiceDeps): PaymentService {
  const clock = deps.clock ?? (() => new Date());
  const newId = deps.newId ?? (() => crypto.randomUUID());

  /** The answer to a request whose key is already taken by `existing`. */
  const replay = (existing: StoredPayment, fingerprint: string): InitiatePaymentResult => {
    if (existing.fingerprint !== fingerprint) {
      throw new AppError(
        "idempotency_key_reused",
        "Idempotency-Key was already used with a different request",
      );
    }
    return { payment: existing.payment, replayed: true };
  };

  return {
    async initiatePaymentClaim(raw) {
      assertValidInitiatePayment(raw);
      const input = normalizeInitiatePayment(raw);
      // The operation is part of the fingerprint: one key cannot serve a payment and a refund.
      return {
        scope: input.principal,
        key: input.idempotencyKey,
        fingerprint: `payment:${await requestFingerprint(input)}`,
      };
    },

    async refundPaymentClaim(raw) {
      assertValidRefundPayment(raw);
      return { scope: raw.principal, key: raw.idempotencyKey, fingerprint: `refund:${await refundFingerprint(raw)}` };
    },

    async refundPayment(raw, context) {
      assertValidRefundPayment(raw);
      const paymentId = raw.paymentId.toLowerCase();
      // Staff handle disputes of others: nobody refunds a payment they made or received.
      const target = await deps.store.findById(paymentId);
      if (target && (target.payerOwnerId === raw.principal || target.payeeOwnerId === raw.principal)) {
        throw new AppError("forbidden", "a payment cannot be refunded by its payer or payee");
      }
      const requestedAt = clock().toISOString();
      const result = await deps.store.requestRefund({
        refundId: newId(),
        paymentId,
        principal: raw.principal,
        idempotencyKey: raw.idempotencyKey,
        fingerprint: await refundFingerprint(raw),
        requestedAt,
      }, (payment) =>
        refundInitiatedMessage(payment, {
          principal: raw.principal,
          eventId: newId(),
          initiatedAt: requestedAt,
          traceparent: context.traceparent,
        }));
      switch (result.kind) {
        case "requested":
          return { payment: result.payment, replayed: false };
        case "replayed":
          return { payment: result.payment, replayed: true };
        case "key_reused":
          throw new AppError("idempotency_key_reused", "Idempotency-Key was already used with a different request");
        case "not_found":
          throw new AppError("not_found", "payment not found");
        case "not_refundable":
          throw new AppError(
            "payment_not_refundable",
            result.payment.refundStatus !== null
              ? "a refund of this payment was already requested"
              : `only a COMPLETED payment can be refunded, this one is ${result.payment.status}`,
          );
      }
    },

    async initiatePayment(raw, context) {
      assertValidInitiatePayment(raw);
      const input = normalizeInitiatePayment(raw);
      const fingerprint = await requestFingerprint(input);

      const existing = await deps.store.findByIdempotencyKey(input.principal, input.idempotencyKey);
      if (existing) return replay(existing, fingerprint);

      const { payer, payee } = await checkAccounts(deps.accounts, input, context);
      // The gateway checks this too; no service trusts the network alone.
      if (payer.ownerId !== input.principal) {
        throw new AppError("forbidden", "only the owner of from_account may pay from it");
      }

      const now = clock().toISOString();
      const payment: Payment = {
        id: newId(),
        fromAccount: input.fromAccount,
        toAccount: input.toAccount,
        amountMinor: input.amountMinor,
        currency: input.currency,
        description: input.description ?? null,
        status: "PENDING",
        failureReason: null,
        refundStatus: null,
        payerOwnerId: payer.ownerId,
        payeeOwnerId: payee.ownerId,
        createdAt: now,
        updatedAt: now,
      };
      const message = paymentInitiatedMessage(payment, {
        principal: input.principal,
        eventId: newId(),
        traceparent: context.traceparent,
      });
      const row: StoredPayment = {
        payment,
        principal: input.principal,
        idempotencyKey: input.idempotencyKey,
        fingerprint,
      };
      if (await deps.store.insertWithOutbox(row, message)) return { payment, replayed: false };

      // A concurrent request with the same key won the unique index: answer as it did.
      const winner = await deps.store.findByIdempotencyKey(input.principal, input.idempotencyKey);
      if (!winner) {
        throw new AppError("internal", "internal error", {
          cause: new Error("Cannot replay a payment as its idempotency key row vanished after a conflict"),
        });
      }
      return replay(winner, fingerprint);
    },

    async getPayment(id) {
      if (!isUuid(id)) throw validationError([{ field: "id", message: "must be a UUID" }]);
      const payment = await deps.store.findById(id.toLowerCase());
      if (!payment) throw new AppError("not_found", "payment not found");
      return payment;
    },

    async listPayments(input) {
      const issues = [];
      if (input.ownerId !== undefined && input.ownerId.length > OWNER_ID_MAX_CHARS) {
        issues.push({ field: "owner_id", message: `must be at most ${OWNER_ID_MAX_CHARS} characters` });
      }
      if (input.accountId !== undefined && !isUuid(input.accountId)) {
        issues.push({ field: "account_id", message: "must be a UUID" });
      }
      if (input.limit !== undefined && (!Number.isInteger(input.limit) || input.limit < 0)) {
        issues.push({ field: "limit", message: "must be between 1 and 100" });
      }
      let after: Cursor | undefined;
      if (input.cursor !== undefined) {
        after = decodeCursor(input.cursor);
        if (!after || !isUuid(after.id) || Number.isNaN(Date.parse(after.after))) {
          issues.push({ field: "cursor", message: "is not a cursor of this listing" });
        }
      }
      if (issues.length > 0) throw validationError(issues);
      const page = await deps.store.list({
        ownerId: input.ownerId,
        accountId: input.accountId?.toLowerCase(),
        status: input.status,
        limit: pageLimit(input.limit),
        after,
      });
      return { payments: page.payments, nextCursor: page.next ? encodeCursor(page.next) : null };
    },
  };
}

/**
 * Asks AccountService about both accounts at once and applies the rules in
 * a fixed order, so that the same request always meets the same error:
 * the accounts' own errors (payer first), then closed accounts, then
 * currencies, then funds.
 */
async function checkAccounts(
  accounts: AccountsPort,
  input: InitiatePaymentInput,
  context: RequestContext,
): Promise<{ payer: AccountSnapshot; payee: AccountSnapshot }> {
  const [funds, payee] = await Promise.allSettled([
    accounts.checkFunds(
      { accountId: input.fromAccount, amountMinor: input.amountMinor, currency: input.currency },
      context,
    ),
    accounts.getAccount(input.toAccount, context),
  ]);
  if (funds.status === "rejected") throw about("from_account", funds.reason);
  if (payee.status === "rejected") throw about("to_account", payee.reason);
  const payer = funds.value.account;
  for (const [field, account] of [["from_account", payer], ["to_account", payee.value]] as const) {
    if (account.status !== "OPEN") throw new AppError("account_closed", `${field} is closed`);
  }
  for (const [field, account] of [["from_account", payer], ["to_account", payee.value]] as const) {
    if (account.currency !== input.currency) {
      throw new AppError(
        "currency_mismatch",
        `currency ${input.currency} differs from the ${field} currency ${account.currency}`,
      );
    }
  }
  if (!funds.value.sufficient) throw new AppError("insufficient_funds", "from_account has insufficient funds");
  return { payer, payee: payee.value };
}

/** Names the account a not_found is about, keeping every other error as it came. */
function about(field: string, error: unknown): unknown {
  if (error instanceof AppError && error.code === "not_found") {
    return new AppError("not_found", `${field} not found`, { cause: error });
  }
  return error;
}
