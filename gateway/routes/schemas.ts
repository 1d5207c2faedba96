/**
 * The public JSON shapes of DESIGN.md §5 as zod schemas. The same schemas
 * validate requests and generate /openapi.json, so the document cannot
 * drift from what the gateway accepts.
 */

import { z } from "@hono/zod-openapi";
import { CURRENCIES, isUuid, MAX_AMOUNT_MINOR, PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX } from "@securepay/shared";
import { AccountStatus, LedgerEntryKind } from "@securepay/shared/gen/account";
import { PaymentStatus } from "@securepay/shared/gen/payment";
import { IDEMPOTENCY_KEY_CHARS_MAX, IDEMPOTENCY_KEY_PATTERN } from "../http/idempotency_key.ts";
import type { Account, Deposit, LedgerEntry, Payment } from "../domain/ports.ts";

export const DESCRIPTION_CHARS_MAX = 500;
const OWNER_ID_CHARS_MAX = 255;
const CURSOR_CHARS_MAX = 512;

const currencyCodes = Object.keys(CURRENCIES) as [string, ...string[]];

export const Uuid = z.string({ error: "must be a UUID" })
  .refine(isUuid, { error: "must be a UUID" })
  .openapi({ format: "uuid", example: "0b6f1d8e-3c1a-4f7e-9a57-2f4d2c1e8b90" });

export const Currency = z.enum(currencyCodes, { error: "must be a supported ISO 4217 currency code" })
  .openapi({ description: "ISO 4217 alphabetic code", example: "EUR" });

export const AmountMinor = z.number({ error: "must be an integer number of minor units" })
  .int({ error: "must be an integer number of minor units, not a fraction" })
  .min(1, { error: "must be greater than 0" })
  .max(MAX_AMOUNT_MINOR, { error: `must be at most ${MAX_AMOUNT_MINOR}` })
  .openapi({ description: "Integer count of minor units (1050 EUR is €10.50)", example: 1050 });

const OwnerId = z.string().min(1).max(OWNER_ID_CHARS_MAX).openapi({ description: "The owner's subject (JWT sub)" });
const Timestamp = z.string().openapi({ format: "date-time", description: "RFC 3339" });

// ---- problems ----------------------------------------------------------------

export const ProblemSchema = z.object({
  type: z.string().openapi({ format: "uri" }),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string().openapi({ example: "validation_error" }),
  instance: z.string().optional(),
  request_id: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
}).openapi("Problem", { description: "RFC 9457 problem details with a stable `code`" });

// ---- requests ----------------------------------------------------------------

export const IdParam = z.object({ id: Uuid.openapi({ param: { name: "id", in: "path" } }) });

export const IdempotencyKeyHeaders = z.object({
  "idempotency-key": z.string()
    .min(1, { error: "must not be empty" })
    .max(IDEMPOTENCY_KEY_CHARS_MAX, { error: `must be at most ${IDEMPOTENCY_KEY_CHARS_MAX} characters` })
    .regex(IDEMPOTENCY_KEY_PATTERN, { error: "must be printable ASCII" })
    .openapi({
      param: { name: "idempotency-key", in: "header", required: true },
      description: "1–255 printable ASCII characters, unique per request you mean to make once",
      example: "order-4711",
    }),
});

const Limit = z.coerce.number({ error: "must be an integer" })
  .int({ error: "must be an integer" })
  .min(1, { error: "must be at least 1" })
  .max(PAGE_LIMIT_MAX, { error: `must be at most ${PAGE_LIMIT_MAX}` })
  .optional()
  .openapi({ param: { name: "limit", in: "query" }, description: `Page size, default ${PAGE_LIMIT_DEFAULT}` });

const Cursor = z.string()
  .min(1, { error: "must not be empty" })
  .max(CURSOR_CHARS_MAX, { error: "is not a valid cursor" })
  .regex(/^[A-Za-z0-9_-]+$/, { error: "is not a valid cursor" })
  .optional()
  .openapi({ param: { name: "cursor", in: "query" }, description: "Opaque; `next_cursor` of the previous page" });

export const PageQuery = z.object({ limit: Limit, cursor: Cursor });

export const ListAccountsQuery = PageQuery.extend({
  owner_id: OwnerId.optional().openapi({ param: { name: "owner_id", in: "query" } }),
});

export const PAYMENT_STATUSES = ["PENDING", "COMPLETED", "FAILED", "REFUNDED"] as const;
export type PaymentStatusName = typeof PAYMENT_STATUSES[number];

export const ListPaymentsQuery = PageQuery.extend({
  account_id: Uuid.optional().openapi({ param: { name: "account_id", in: "query" } }),
  status: z.enum(PAYMENT_STATUSES, { error: `must be one of ${PAYMENT_STATUSES.join(", ")}` }).optional()
    .openapi({ param: { name: "status", in: "query" } }),
});

export const CreateAccountBody = z.strictObject({
  currency: Currency,
  owner_id: OwnerId.optional().openapi({ description: "ADMIN only: create for another owner" }),
}).openapi("CreateAccountRequest");

export const DepositBody = z.strictObject({ amount: AmountMinor }).openapi("DepositRequest");

export const CreatePaymentBody = z.strictObject({
  from_account: Uuid,
  to_account: Uuid,
  amount: AmountMinor,
  currency: Currency,
  description: z.string({ error: "must be a string" })
    .max(DESCRIPTION_CHARS_MAX, { error: `must be at most ${DESCRIPTION_CHARS_MAX} characters` })
    .optional(),
}).refine((body) => body.from_account.toLowerCase() !== body.to_account.toLowerCase(), {
  error: "must differ from from_account",
  path: ["to_account"],
}).openapi("CreatePaymentRequest");

// ---- responses ---------------------------------------------------------------

export const AccountSchema = z.object({
  id: Uuid,
  owner_id: z.string(),
  currency: z.string(),
  balance: z.number().int(),
  version: z.number().int(),
  status: z.enum(["OPEN", "CLOSED"]),
  created_at: Timestamp,
  updated_at: Timestamp,
}).openapi("Account");

export const LedgerEntrySchema = z.object({
  id: Uuid,
  account_id: Uuid,
  amount: z.number().int().openapi({ description: "Signed: positive adds to the balance" }),
  currency: z.string(),
  kind: z.enum(["DEPOSIT", "DEBIT", "CREDIT", "REFUND_DEBIT", "REFUND_CREDIT"]),
  payment_id: Uuid.nullable(),
  deposit_id: Uuid.nullable(),
  balance_after: z.number().int(),
  created_at: Timestamp,
}).openapi("LedgerEntry");

export const DepositSchema = z.object({
  id: Uuid,
  account_id: Uuid,
  amount: z.number().int(),
  currency: z.string(),
  created_at: Timestamp,
}).openapi("Deposit");

export const DepositResultSchema = z.object({ deposit: DepositSchema, account: AccountSchema })
  .openapi("DepositResult");

export const PaymentSchema = z.object({
  id: Uuid,
  from_account: Uuid,
  to_account: Uuid,
  amount: z.number().int(),
  currency: z.string(),
  description: z.string().nullable(),
  status: z.enum(PAYMENT_STATUSES),
  failure_reason: z.string().nullable(),
  created_at: Timestamp,
  updated_at: Timestamp,
}).openapi("Payment");

export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() }).openapi(name);
}

export const AccountPage = pageOf(AccountSchema, "AccountPage");
export const LedgerPage = pageOf(LedgerEntrySchema, "LedgerEntryPage");
export const PaymentPage = pageOf(PaymentSchema, "PaymentPage");

export type AccountJson = z.infer<typeof AccountSchema>;
export type LedgerEntryJson = z.infer<typeof LedgerEntrySchema>;
export type DepositJson = z.infer<typeof DepositSchema>;
export type PaymentJson = z.infer<typeof PaymentSchema>;

// ---- proto → JSON ------------------------------------------------------------

const ACCOUNT_STATUS: Partial<Record<AccountStatus, AccountJson["status"]>> = {
  [AccountStatus.ACCOUNT_STATUS_OPEN]: "OPEN",
  [AccountStatus.ACCOUNT_STATUS_CLOSED]: "CLOSED",
};

const LEDGER_KIND: Partial<Record<LedgerEntryKind, LedgerEntryJson["kind"]>> = {
  [LedgerEntryKind.LEDGER_ENTRY_KIND_DEPOSIT]: "DEPOSIT",
  [LedgerEntryKind.LEDGER_ENTRY_KIND_DEBIT]: "DEBIT",
  [LedgerEntryKind.LEDGER_ENTRY_KIND_CREDIT]: "CREDIT",
  [LedgerEntryKind.LEDGER_ENTRY_KIND_REFUND_DEBIT]: "REFUND_DEBIT",
  [LedgerEntryKind.LEDGER_ENTRY_KIND_REFUND_CREDIT]: "REFUND_CREDIT",
};

const PAYMENT_STATUS_NAME: Partial<Record<PaymentStatus, PaymentStatusName>> = {
  [PaymentStatus.PAYMENT_STATUS_PENDING]: "PENDING",
  [PaymentStatus.PAYMENT_STATUS_COMPLETED]: "COMPLETED",
  [PaymentStatus.PAYMENT_STATUS_FAILED]: "FAILED",
  [PaymentStatus.PAYMENT_STATUS_REFUNDED]: "REFUNDED",
};

export const PAYMENT_STATUS_OF_NAME: Record<PaymentStatusName, PaymentStatus> = {
  PENDING: PaymentStatus.PAYMENT_STATUS_PENDING,
  COMPLETED: PaymentStatus.PAYMENT_STATUS_COMPLETED,
  FAILED: PaymentStatus.PAYMENT_STATUS_FAILED,
  REFUNDED: PaymentStatus.PAYMENT_STATUS_REFUNDED,
};

function known<T>(value: T | undefined, what: string): T {
  // An enum value this gateway does not know is a contract break, not caller input.
  if (value === undefined) throw new Error(`Cannot answer as a service sent an unknown ${what}`);
  return value;
}

export function accountJson(a: Account): AccountJson {
  return {
    id: a.id,
    owner_id: a.ownerId,
    currency: a.currency,
    balance: a.balance,
    version: a.version,
    status: known(ACCOUNT_STATUS[a.status], "account status"),
    created_at: a.createdAt,
    updated_at: a.updatedAt,
  };
}

export function ledgerEntryJson(e: LedgerEntry): LedgerEntryJson {
  return {
    id: e.id,
    account_id: e.accountId,
    amount: e.amount,
    currency: e.currency,
    kind: known(LEDGER_KIND[e.kind], "ledger entry kind"),
    payment_id: e.paymentId || null,
    deposit_id: e.depositId || null,
    balance_after: e.balanceAfter,
    created_at: e.createdAt,
  };
}

export function depositJson(d: Deposit): DepositJson {
  return { id: d.id, account_id: d.accountId, amount: d.amount, currency: d.currency, created_at: d.createdAt };
}

export function paymentJson(p: Payment): PaymentJson {
  return {
    id: p.id,
    from_account: p.fromAccount,
    to_account: p.toAccount,
    amount: p.amount,
    currency: p.currency,
    description: p.description || null,
    status: known(PAYMENT_STATUS_NAME[p.status], "payment status"),
    failure_reason: p.failureReason || null,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}
