/** Pure rules of the account domain: limits, checks and fingerprints. */

import { AppError, type FieldIssue, validationError } from "@securepay/shared";
import type { Account } from "./account.ts";

export const OWNER_ID_CHARS_MAX = 255;
export const SUBJECT_CHARS_MAX = 255;
export const IDEMPOTENCY_KEY_CHARS_MAX = 255;

const PRINTABLE_ASCII = /^[\x20-\x7e]+$/;

/** A problem with an owner id, or undefined when it is acceptable. */
export function ownerIdProblem(value: string): string | undefined {
  if (value.length === 0) return "must not be empty";
  if (value.length > OWNER_ID_CHARS_MAX) return `must be at most ${OWNER_ID_CHARS_MAX} characters`;
  if (value.trim() !== value) return "must not start or end with white space";
  if (/\p{Cc}/u.test(value)) return "must not contain control characters";
  return undefined;
}

/** A problem with an Idempotency-Key, or undefined when it is acceptable. */
export function idempotencyKeyProblem(value: string): string | undefined {
  if (value.length === 0) return "must not be empty";
  if (value.length > IDEMPOTENCY_KEY_CHARS_MAX) return `must be at most ${IDEMPOTENCY_KEY_CHARS_MAX} characters`;
  if (!PRINTABLE_ASCII.test(value)) return "must contain printable ASCII characters only";
  return undefined;
}

/** A problem with a principal's subject, or undefined when it is acceptable. */
export function subjectProblem(value: string): string | undefined {
  if (value.length === 0) return "must not be empty";
  if (value.length > SUBJECT_CHARS_MAX) return `must be at most ${SUBJECT_CHARS_MAX} characters`;
  return undefined;
}

/**
 * Whether `account` can pay `amount` of `currency`: throws currency_mismatch
 * or account_closed when the question itself is wrong, else answers.
 */
export function hasSufficientFunds(account: Account, request: { amount: number; currency: string }): boolean {
  if (account.currency !== request.currency) {
    throw new AppError("currency_mismatch", `Account currency is ${account.currency}, not ${request.currency}`, {
      issues: [{ field: "currency", message: `must be the account's currency ${account.currency}` }],
    });
  }
  if (account.status !== "OPEN") throw new AppError("account_closed", "Account is closed");
  return account.balance >= request.amount;
}

/**
 * SHA-256 (hex) of the canonical fields of a deposit request, so that a
 * repeated key can be told apart from a key reused for another request.
 */
export async function depositFingerprint(request: { accountId: string; amount: number }): Promise<string> {
  const canonical = JSON.stringify(["deposit", request.accountId.toLowerCase(), request.amount]);
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonical));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Collects field issues and throws one validation_error for all of them. */
export class IssueList {
  readonly #issues: FieldIssue[] = [];

  add(field: string, problem: string | undefined): void {
    if (problem !== undefined) this.#issues.push({ field, message: problem });
  }

  throwIfAny(): void {
    if (this.#issues.length === 0) return;
    throw validationError(this.#issues);
  }
}
