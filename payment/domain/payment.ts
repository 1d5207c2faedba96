/**
 * What a payment is, the rules a request must satisfy before anything is
 * stored, and the order in which a payment's status may change.
 */

import { amountProblem, AppError, type FieldIssue, isCurrency, isUuid, validationError } from "@securepay/shared";

export const PAYMENT_STATUSES = ["PENDING", "COMPLETED", "FAILED", "REFUNDED"] as const;
export type PaymentStatus = typeof PAYMENT_STATUSES[number];

/** Where the one refund a payment may have stands; a failed refund is final too. */
export const REFUND_STATUSES = ["PENDING", "COMPLETED", "FAILED"] as const;
export type RefundStatus = typeof REFUND_STATUSES[number];

export interface Payment {
  readonly id: string;
  readonly fromAccount: string;
  readonly toAccount: string;
  readonly amountMinor: number;
  readonly currency: string;
  readonly description: string | null;
  readonly status: PaymentStatus;
  readonly failureReason: string | null;
  /** Null until a refund is requested. */
  readonly refundStatus: RefundStatus | null;
  readonly payerOwnerId: string;
  readonly payeeOwnerId: string;
  /** RFC 3339. */
  readonly createdAt: string;
  /** RFC 3339. */
  readonly updatedAt: string;
}

/** A stored payment together with what identifies the request that made it. */
export interface StoredPayment {
  readonly payment: Payment;
  readonly principal: string;
  readonly idempotencyKey: string;
  readonly fingerprint: string;
}

export interface InitiatePaymentInput {
  /** The caller's JWT `sub`; idempotency keys are scoped to it. */
  readonly principal: string;
  readonly idempotencyKey: string;
  readonly fromAccount: string;
  readonly toAccount: string;
  readonly amountMinor: number;
  readonly currency: string;
  /** Empty or absent means none. */
  readonly description?: string | null;
}

export const IDEMPOTENCY_KEY_MAX_CHARS = 255;
export const DESCRIPTION_MAX_CHARS = 500;
export const PRINCIPAL_MAX_CHARS = 255;
const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** The problems of the principal and Idempotency-Key every write carries. */
function callerIssues(principal: string, key: string): FieldIssue[] {
  const issues: FieldIssue[] = [];
  if (typeof principal !== "string" || principal.length === 0) {
    issues.push({ field: "principal.subject", message: "is required" });
  } else if (principal.length > PRINCIPAL_MAX_CHARS) {
    issues.push({ field: "principal.subject", message: `must be at most ${PRINCIPAL_MAX_CHARS} characters` });
  }
  if (typeof key !== "string" || key.length === 0) {
    issues.push({ field: "idempotency_key", message: "is required" });
  } else if (key.length > IDEMPOTENCY_KEY_MAX_CHARS) {
    issues.push({ field: "idempotency_key", message: `must be at most ${IDEMPOTENCY_KEY_MAX_CHARS} characters` });
  } else if (!PRINTABLE_ASCII.test(key)) {
    issues.push({ field: "idempotency_key", message: "must be printable ASCII" });
  }
  return issues;
}

/** The field problems of an InitiatePayment request; empty when it is valid. */
export function initiatePaymentIssues(input: InitiatePaymentInput): FieldIssue[] {
  const issues = callerIssues(input.principal, input.idempotencyKey);
  if (!isUuid(input.fromAccount)) issues.push({ field: "from_account", message: "must be a UUID" });
  if (!isUuid(input.toAccount)) issues.push({ field: "to_account", message: "must be a UUID" });
  if (isUuid(input.fromAccount) && isUuid(input.toAccount) && sameUuid(input.fromAccount, input.toAccount)) {
    issues.push({ field: "to_account", message: "must differ from from_account" });
  }
  const amount = amountProblem(input.amountMinor);
  if (amount) issues.push({ field: "amount", message: amount });
  if (!isCurrency(input.currency)) issues.push({ field: "currency", message: "must be a supported ISO 4217 code" });
  const description = input.description ?? "";
  if (typeof description !== "string") {
    issues.push({ field: "description", message: "must be a string" });
  } else if (charCount(description) > DESCRIPTION_MAX_CHARS) {
    issues.push({ field: "description", message: `must be at most ${DESCRIPTION_MAX_CHARS} characters` });
  }
  return issues;
}

/** Throws a validation_error AppError listing every problem of `input`. */
export function assertValidInitiatePayment(input: InitiatePaymentInput): void {
  const issues = initiatePaymentIssues(input);
  if (issues.length > 0) throw validationError(issues);
}

/** The request in canonical form: lower-case UUIDs, no empty description. */
export function normalizeInitiatePayment(input: InitiatePaymentInput): InitiatePaymentInput {
  return {
    principal: input.principal,
    idempotencyKey: input.idempotencyKey,
    fromAccount: input.fromAccount.toLowerCase(),
    toAccount: input.toAccount.toLowerCase(),
    amountMinor: input.amountMinor,
    currency: input.currency,
    description: input.description ? input.description : null,
  };
}

/**
 * SHA-256 (hex) of the request fields that decide what the payment does.
 * Two requests with the same key and the same fingerprint are the same
 * request; the key itself and the principal scope it and are not hashed.
 */
export async function requestFingerprint(input: InitiatePaymentInput): Promise<string> {
  const n = normalizeInitiatePayment(input);
  // An array keeps the field order fixed, so the digest never depends on key order.
  const canonical = JSON.stringify([n.fromAccount, n.toAccount, n.amountMinor, n.currency, n.description]);
  return await sha256Hex(canonical);
}

export interface RefundPaymentInput {
  /** The caller's JWT `sub`; idempotency keys are scoped to it. */
  readonly principal: string;
  /** The caller's roles: only ADMIN and SUPPORT may refund. */
  readonly roles: readonly string[];
  readonly idempotencyKey: string;
  readonly paymentId: string;
}

export const REFUND_ROLES = ["ADMIN", "SUPPORT"] as const;

/** Throws validation_error for a malformed request, forbidden for a caller who may not refund. */
export function assertValidRefundPayment(input: RefundPaymentInput): void {
  const issues = callerIssues(input.principal, input.idempotencyKey);
  if (!isUuid(input.paymentId)) issues.push({ field: "payment_id", message: "must be a UUID" });
  if (issues.length > 0) throw validationError(issues);
  // The gateway checks this too; no service trusts the network alone.
  if (!input.roles.some((role) => (REFUND_ROLES as readonly string[]).includes(role))) {
    throw new AppError("forbidden", "only ADMIN and SUPPORT may refund payments");
  }
}

/** SHA-256 (hex) of what a refund request asks: which payment. */
export async function refundFingerprint(input: RefundPaymentInput): Promise<string> {
  return await sha256Hex(JSON.stringify(["refund", input.paymentId.toLowerCase()]));
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

const TRANSITIONS: Readonly<Record<PaymentStatus, readonly PaymentStatus[]>> = {
  PENDING: ["COMPLETED", "FAILED"],
  COMPLETED: ["REFUNDED"],
  FAILED: [],
  REFUNDED: [],
};

/** True when a payment may move from `from` to `to` (invariant 6: never backwards). */
export function canTransition(from: PaymentStatus, to: PaymentStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isPaymentStatus(value: unknown): value is PaymentStatus {
  return typeof value === "string" && (PAYMENT_STATUSES as readonly string[]).includes(value);
}

function sameUuid(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

function charCount(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}
