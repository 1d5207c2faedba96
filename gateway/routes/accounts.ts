/** /v1/accounts: create, read and list accounts, their ledgers, and deposits. */

import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { AppError, notFound } from "@securepay/shared";
import {
  canCreateAccountFor,
  canDeposit,
  canListAccountsOf,
  canReadAccount,
  canReadLedger,
  isStaff,
} from "../domain/access.ts";
import type { Account, AccountsPort, CallContext } from "../domain/ports.ts";
import type { GatewayEnv } from "../http/context.ts";
import { requireIdempotencyKey } from "../http/idempotency_key.ts";
import { jsonBody } from "../http/json_body.ts";
import {
  BEARER_SECURITY,
  callContextOf,
  forbidden,
  pageRequestOf,
  problems,
  REPLAYED_HEADER,
  replayedHeaders,
  type RouteDeps,
} from "./_common.ts";
import {
  accountJson,
  AccountPage,
  AccountSchema,
  CreateAccountBody,
  DepositBody,
  depositJson,
  DepositResultSchema,
  IdempotencyKeyHeaders,
  IdParam,
  ledgerEntryJson,
  LedgerPage,
  ListAccountsQuery,
  PageQuery,
} from "./schemas.ts";

/**
 * The account if the caller may see it; otherwise not_found, worded exactly
 * like a missing account so that others' ids reveal nothing.
 */
async function visibleAccount(
  accounts: AccountsPort,
  id: string,
  context: CallContext,
  visible: (account: Account) => boolean,
): Promise<Account> {
  let account: Account;
  try {
    account = await accounts.getAccount(id, context);
  } catch (error) {
    if (error instanceof AppError && error.code === "not_found") throw notFound("account");
    throw error;
  }
  if (!visible(account)) throw notFound("account");
  return account;
}

const onlyDepositors: MiddlewareHandler<GatewayEnv> = async function onlyDepositors(c, next) {
  if (!canDeposit(c.var.principal)) throw forbidden("only an ADMIN may deposit");
  await next();
};

export function registerAccountRoutes(app: OpenAPIHono<GatewayEnv>, deps: RouteDeps): void {
  const { accounts } = deps;
  const body = jsonBody({ limitBytes: deps.bodyLimitBytes });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/accounts",
      summary: "Open an account",
      description: "A USER opens an account for themselves; an ADMIN may open one for any owner.",
      tags: ["accounts"],
      security: BEARER_SECURITY,
      middleware: [body] as const,
      request: { body: { required: true, content: { "application/json": { schema: CreateAccountBody } } } },
      responses: {
        201: { description: "The new account", content: { "application/json": { schema: AccountSchema } } },
        ...problems(403, 413, 415),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const principal = c.var.principal;
      const ownerId = input.owner_id ?? principal.subject;
      if (!canCreateAccountFor(principal, ownerId)) {
        throw forbidden(
          ownerId === principal.subject
            ? "this role may not open accounts"
            : "only an ADMIN may open accounts for others",
        );
      }
      const account = await accounts.createAccount({ ownerId, currency: input.currency }, callContextOf(c));
      return c.json(accountJson(account), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/accounts",
      summary: "List accounts",
      description: "A USER sees their own accounts; SUPPORT, AUDITOR and ADMIN see all, optionally by `owner_id`.",
      tags: ["accounts"],
      security: BEARER_SECURITY,
      request: { query: ListAccountsQuery },
      responses: {
        200: {
          description: "One page of accounts, newest first",
          content: { "application/json": { schema: AccountPage } },
        },
        ...problems(403),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const principal = c.var.principal;
      const ownerId = isStaff(principal) ? query.owner_id : (query.owner_id ?? principal.subject);
      if (!canListAccountsOf(principal, ownerId)) throw forbidden("a USER may list only their own accounts");
      const page = await accounts.listAccounts({ ...pageRequestOf(query), ownerId }, callContextOf(c));
      return c.json({ data: page.items.map(accountJson), next_cursor: page.nextCursor ?? null }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/accounts/{id}",
      summary: "Read an account",
      description: "For its owner, SUPPORT, AUDITOR and ADMIN.",
      tags: ["accounts"],
      security: BEARER_SECURITY,
      request: { params: IdParam },
      responses: {
        200: { description: "The account", content: { "application/json": { schema: AccountSchema } } },
        ...problems(404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const principal = c.var.principal;
      const account = await visibleAccount(accounts, id, callContextOf(c), (a) => canReadAccount(principal, a));
      return c.json(accountJson(account), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/accounts/{id}/ledger",
      summary: "List an account's ledger entries",
      description: "For its owner, AUDITOR and ADMIN.",
      tags: ["accounts"],
      security: BEARER_SECURITY,
      request: { params: IdParam, query: PageQuery },
      responses: {
        200: {
          description: "One page of ledger entries, newest first",
          content: { "application/json": { schema: LedgerPage } },
        },
        ...problems(403, 404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const query = c.req.valid("query");
      const principal = c.var.principal;
      const context = callContextOf(c);
      const account = await visibleAccount(accounts, id, context, (a) => canReadAccount(principal, a));
      if (!canReadLedger(principal, account)) throw forbidden("ledgers are for the owner, AUDITOR and ADMIN");
      const page = await accounts.listLedgerEntries({ ...pageRequestOf(query), accountId: id }, context);
      return c.json({ data: page.items.map(ledgerEntryJson), next_cursor: page.nextCursor ?? null }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/accounts/{id}/deposits",
      summary: "Deposit funds",
      description: "ADMIN only: the one way money enters the system. Repeating an Idempotency-Key replays the result.",
      tags: ["accounts"],
      security: BEARER_SECURITY,
      middleware: [onlyDepositors, requireIdempotencyKey(), body] as const,
      request: {
        params: IdParam,
        headers: IdempotencyKeyHeaders,
        body: { required: true, content: { "application/json": { schema: DepositBody } } },
      },
      responses: {
        201: {
          description: "The deposit and the account after it",
          headers: replayedHeaders,
          content: { "application/json": { schema: DepositResultSchema } },
        },
        ...problems(403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const { amount } = c.req.valid("json");
      const idempotencyKey = c.req.valid("header")["idempotency-key"];
      const result = await accounts.deposit({ accountId: id, amountMinor: amount, idempotencyKey }, callContextOf(c));
      if (result.replayed) c.header(REPLAYED_HEADER, "true");
      return c.json({ deposit: depositJson(result.deposit), account: accountJson(result.account) }, 201);
    },
  );
}
