/** /v1/payments: initiate, read, list and refund payments. */

import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { AppError, notFound } from "@securepay/shared";
import { canPayFrom, canReadPayment, canRefund, isStaff } from "../domain/access.ts";
import type { Account, Payment } from "../domain/ports.ts";
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
  CreatePaymentBody,
  IdempotencyKeyHeaders,
  IdParam,
  ListPaymentsQuery,
  PAYMENT_STATUS_OF_NAME,
  paymentJson,
  PaymentPage,
  PaymentSchema,
} from "./schemas.ts";

const onlyRefunders: MiddlewareHandler<GatewayEnv> = async function onlyRefunders(c, next) {
  if (!canRefund(c.var.principal)) throw forbidden("only ADMIN and SUPPORT may refund payments");
  await next();
};

export function registerPaymentRoutes(app: OpenAPIHono<GatewayEnv>, deps: RouteDeps): void {
  const { accounts, payments } = deps;
  const body = jsonBody({ limitBytes: deps.bodyLimitBytes });

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/payments",
      summary: "Initiate a payment",
      description: "From an account the caller owns. Accepted as PENDING; repeating an Idempotency-Key replays it.",
      tags: ["payments"],
      security: BEARER_SECURITY,
      middleware: [requireIdempotencyKey(), body] as const,
      request: {
        headers: IdempotencyKeyHeaders,
        body: { required: true, content: { "application/json": { schema: CreatePaymentBody } } },
      },
      responses: {
        202: {
          description: "The accepted payment",
          headers: replayedHeaders,
          content: { "application/json": { schema: PaymentSchema } },
        },
        ...problems(403, 404, 409, 413, 415, 422),
      },
    }),
    async (c) => {
      const input = c.req.valid("json");
      const idempotencyKey = c.req.valid("header")["idempotency-key"];
      const principal = c.var.principal;
      const context = callContextOf(c);
      let from: Account;
      try {
        from = await accounts.getAccount(input.from_account, context);
      } catch (error) {
        if (error instanceof AppError && error.code === "not_found") throw notFound("from_account");
        throw error;
      }
      if (!canPayFrom(principal, from)) throw forbidden("only the owner of from_account may pay from it");
      if (from.currency !== input.currency) {
        throw new AppError(
          "currency_mismatch",
          `currency ${input.currency} differs from the from_account currency ${from.currency}`,
        );
      }
      const result = await payments.initiatePayment({
        idempotencyKey,
        fromAccount: input.from_account,
        toAccount: input.to_account,
        amountMinor: input.amount,
        currency: input.currency,
        description: input.description,
      }, context);
      if (result.replayed) c.header(REPLAYED_HEADER, "true");
      return c.json(paymentJson(result.payment), 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/payments/{id}",
      summary: "Read a payment",
      description: "For the payer's and payee's owners, SUPPORT, AUDITOR and ADMIN.",
      tags: ["payments"],
      security: BEARER_SECURITY,
      request: { params: IdParam },
      responses: {
        200: { description: "The payment", content: { "application/json": { schema: PaymentSchema } } },
        ...problems(404),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      let payment: Payment;
      try {
        payment = await payments.getPayment(id, callContextOf(c));
      } catch (error) {
        if (error instanceof AppError && error.code === "not_found") throw notFound("payment");
        throw error;
      }
      if (!canReadPayment(c.var.principal, payment)) throw notFound("payment");
      return c.json(paymentJson(payment), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/payments",
      summary: "List payments",
      description: "A USER sees payments where they pay or are paid; SUPPORT, AUDITOR and ADMIN see all.",
      tags: ["payments"],
      security: BEARER_SECURITY,
      request: { query: ListPaymentsQuery },
      responses: {
        200: {
          description: "One page of payments, newest first",
          content: { "application/json": { schema: PaymentPage } },
        },
        ...problems(),
      },
    }),
    async (c) => {
      const query = c.req.valid("query");
      const principal = c.var.principal;
      const page = await payments.listPayments({
        ...pageRequestOf(query),
        ownerId: isStaff(principal) ? undefined : principal.subject,
        accountId: query.account_id,
        status: query.status === undefined ? undefined : PAYMENT_STATUS_OF_NAME[query.status],
      }, callContextOf(c));
      return c.json({ data: page.items.map(paymentJson), next_cursor: page.nextCursor ?? null }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/v1/payments/{id}/refunds",
      summary: "Refund a payment",
      description: "ADMIN and SUPPORT: refunds a COMPLETED payment in full, once. Accepted with the refund PENDING; " +
        "the payment turns REFUNDED when the money has moved back. Repeating an Idempotency-Key replays the answer.",
      tags: ["payments"],
      security: BEARER_SECURITY,
      middleware: [onlyRefunders, requireIdempotencyKey()] as const,
      request: { params: IdParam, headers: IdempotencyKeyHeaders },
      responses: {
        202: {
          description: "The payment, still COMPLETED, with its refund requested",
          headers: replayedHeaders,
          content: { "application/json": { schema: PaymentSchema } },
        },
        ...problems(403, 404, 409, 422),
      },
    }),
    async (c) => {
      const { id } = c.req.valid("param");
      const idempotencyKey = c.req.valid("header")["idempotency-key"];
      let result;
      try {
        const payment = await payments.getPayment(id, callContextOf(c));
        if (!canRefund(c.var.principal, payment)) {
          throw forbidden("a payment cannot be refunded by its payer or payee");
        }
        result = await payments.refundPayment({ paymentId: id, idempotencyKey }, callContextOf(c));
      } catch (error) {
        if (error instanceof AppError && error.code === "not_found") throw notFound("payment");
        throw error;
      }
      if (result.replayed) c.header(REPLAYED_HEADER, "true");
      return c.json(paymentJson(result.payment), 202);
    },
  );
}
