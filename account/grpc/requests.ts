/**
 * Validation of incoming AccountService messages. Protobuf already fixes the
 * types; this checks what it cannot: empty or oversized strings, malformed
 * ids and cursors, amounts out of range. Every problem of a message is
 * reported at once as one validation_error.
 */

import {
  amountProblem,
  AppError,
  type Cursor,
  decodeCursor,
  isCurrency,
  isRole,
  isUuid,
  PAGE_LIMIT_MAX,
  pageLimit,
} from "@securepay/shared";
import type {
  CheckFundsRequest,
  CreateAccountRequest,
  DepositRequest,
  GetAccountRequest,
  ListAccountsRequest,
  ListLedgerEntriesRequest,
  Principal,
} from "@securepay/shared/gen/account";
import { idempotencyKeyProblem, IssueList, ownerIdProblem, subjectProblem } from "../domain/rules.ts";

/** Cursors of this service hold the last row's creation time in epoch microseconds. */
const EPOCH_MICROS = /^\d{1,16}$/;

export interface CreateAccountInput {
  readonly ownerId: string;
  readonly currency: string;
}

export interface PageInput {
  readonly limit: number;
  readonly after?: Cursor;
}

export interface CheckFundsInput {
  readonly accountId: string;
  readonly amount: number;
  readonly currency: string;
}

export interface DepositInput {
  readonly accountId: string;
  readonly amount: number;
  readonly idempotencyKey: string;
  readonly principal: string;
}

export function parseCreateAccount(request: CreateAccountRequest): CreateAccountInput {
  const issues = new IssueList();
  issues.add("owner_id", ownerIdProblem(request.ownerId));
  issues.add("currency", currencyProblem(request.currency));
  // The principal is optional here (it is for audit), but when sent it must be well formed.
  if (request.principal !== undefined) checkPrincipal(issues, request.principal);
  issues.throwIfAny();
  return { ownerId: request.ownerId, currency: request.currency };
}

export function parseGetAccount(request: GetAccountRequest): { id: string } {
  const issues = new IssueList();
  issues.add("id", uuidProblem(request.id));
  issues.throwIfAny();
  return { id: request.id.toLowerCase() };
}

export function parseListAccounts(request: ListAccountsRequest): PageInput & { ownerId?: string } {
  const issues = new IssueList();
  if (request.ownerId !== "") issues.add("owner_id", ownerIdProblem(request.ownerId));
  const page = parsePage(issues, request);
  issues.throwIfAny();
  return { ...page, ownerId: request.ownerId === "" ? undefined : request.ownerId };
}

export function parseListLedgerEntries(request: ListLedgerEntriesRequest): PageInput & { accountId: string } {
  const issues = new IssueList();
  issues.add("account_id", uuidProblem(request.accountId));
  const page = parsePage(issues, request);
  issues.throwIfAny();
  return { ...page, accountId: request.accountId.toLowerCase() };
}

export function parseCheckFunds(request: CheckFundsRequest): CheckFundsInput {
  const issues = new IssueList();
  issues.add("account_id", uuidProblem(request.accountId));
  issues.add("amount", amountProblem(request.amount));
  issues.add("currency", currencyProblem(request.currency));
  issues.throwIfAny();
  return { accountId: request.accountId.toLowerCase(), amount: request.amount, currency: request.currency };
}

export function parseDeposit(request: DepositRequest): DepositInput {
  const issues = new IssueList();
  issues.add("account_id", uuidProblem(request.accountId));
  issues.add("amount", amountProblem(request.amount));
  issues.add("idempotency_key", idempotencyKeyProblem(request.idempotencyKey));
  if (request.principal === undefined) issues.add("principal", "is required");
  else checkPrincipal(issues, request.principal);
  issues.throwIfAny();
  // Money enters only through an ADMIN's deposit. The gateway checks this
  // too; no service trusts the network alone.
  if (!request.principal!.roles.includes("ADMIN")) {
    throw new AppError("forbidden", "only an ADMIN may deposit");
  }
  return {
    accountId: request.accountId.toLowerCase(),
    amount: request.amount,
    idempotencyKey: request.idempotencyKey,
    principal: request.principal!.subject,
  };
}

function checkPrincipal(issues: IssueList, principal: Principal): void {
  issues.add("principal.subject", subjectProblem(principal.subject));
  if (principal.roles.length > 16) issues.add("principal.roles", "must list at most 16 roles");
  else if (!principal.roles.every(isRole)) issues.add("principal.roles", "must contain known roles only");
}

function parsePage(issues: IssueList, request: { limit: number; cursor: string }): PageInput {
  if (!Number.isInteger(request.limit) || request.limit < 0 || request.limit > PAGE_LIMIT_MAX) {
    issues.add("limit", `must be between 1 and ${PAGE_LIMIT_MAX} (0 for the default)`);
  }
  let after: Cursor | undefined;
  if (request.cursor !== "") {
    const cursor = decodeCursor(request.cursor);
    if (cursor === undefined || !EPOCH_MICROS.test(cursor.after) || !isUuid(cursor.id)) {
      issues.add("cursor", "is not a cursor returned by this list");
    } else {
      after = cursor;
    }
  }
  return { limit: pageLimit(request.limit), after };
}

function uuidProblem(value: string): string | undefined {
  if (value === "") return "is required";
  return isUuid(value) ? undefined : "must be a UUID";
}

function currencyProblem(value: string): string | undefined {
  if (value === "") return "is required";
  return isCurrency(value) ? undefined : "must be a supported ISO 4217 currency code";
}
