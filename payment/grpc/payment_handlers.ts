/**
 * PaymentService over gRPC: translates between the proto messages and the
 * payment core, and records per-method metrics. Status codes come from the
 * one error table in shared/ through `unary()`.
 */

import type { Metadata } from "@grpc/grpc-js";
import {
  AppError,
  type GrpcServiceBinding,
  type HandlerContext,
  type Logger,
  type MetricsRegistry,
  unary,
  validationError,
} from "@securepay/shared";
import {
  type GetPaymentRequest,
  type GetPaymentResponse,
  type InitiatePaymentRequest,
  InitiatePaymentResponse,
  type ListPaymentsRequest,
  type ListPaymentsResponse,
  type Payment as PaymentMessage,
  PaymentServiceService,
  PaymentStatus as PaymentStatusMessage,
  type RefundPaymentRequest,
  RefundPaymentResponse,
} from "@securepay/shared/gen/payment";
import type { IdempotentRunner } from "../domain/idempotent.ts";
import type { Payment, PaymentStatus } from "../domain/payment.ts";
import type { RequestContext } from "../domain/ports.ts";
import type { PaymentService } from "../domain/service.ts";

const STATUS_TO_MESSAGE: Record<PaymentStatus, PaymentStatusMessage> = {
  PENDING: PaymentStatusMessage.PAYMENT_STATUS_PENDING,
  COMPLETED: PaymentStatusMessage.PAYMENT_STATUS_COMPLETED,
  FAILED: PaymentStatusMessage.PAYMENT_STATUS_FAILED,
  REFUNDED: PaymentStatusMessage.PAYMENT_STATUS_REFUNDED,
};

export function toPaymentMessage(payment: Payment): PaymentMessage {
  return {
    id: payment.id,
    fromAccount: payment.fromAccount,
    toAccount: payment.toAccount,
    amount: payment.amountMinor,
    currency: payment.currency,
    description: payment.description ?? "",
    status: STATUS_TO_MESSAGE[payment.status],
    failureReason: payment.failureReason ?? "",
    payerOwnerId: payment.payerOwnerId,
    payeeOwnerId: payment.payeeOwnerId,
    createdAt: payment.createdAt,
    updatedAt: payment.updatedAt,
    refundStatus: payment.refundStatus ?? "",
  };
}

/** The status filter of a listing; UNSPECIFIED means any status. */
export function statusFilter(value: PaymentStatusMessage): PaymentStatus | undefined {
  if (value === PaymentStatusMessage.PAYMENT_STATUS_UNSPECIFIED) return undefined;
  const match = (Object.entries(STATUS_TO_MESSAGE) as [PaymentStatus, PaymentStatusMessage][])
    .find(([, message]) => message === value);
  if (!match) throw validationError([{ field: "status", message: "must be a payment status" }]);
  return match[0];
}

export interface PaymentHandlerOptions {
  /** Keeps each write's encoded response under its Idempotency-Key. */
  readonly idempotency: IdempotentRunner;
  readonly logger: Logger;
  readonly metrics: MetricsRegistry;
}

export function paymentServiceBinding(payments: PaymentService, options: PaymentHandlerOptions): GrpcServiceBinding {
  const { idempotency, logger, metrics } = options;
  const requests = metrics.counter("payment_rpc_requests_total", "PaymentService calls by method and result code.");
  const durations = metrics.histogram("payment_rpc_duration_seconds", "PaymentService call duration by method.");
  const initiated = metrics.counter("payments_initiated_total", "Payments accepted (not replays), by currency.");

  /** Wraps a handler so every call is counted by method and SecurePay code, and timed. */
  const measured = <Req, Res>(method: string, handler: (req: Req, ctx: HandlerContext) => Promise<Res>) =>
    unary<Req, Res>(method, logger, async (request, context) => {
      const started = performance.now();
      let code = "ok";
      try {
        return await handler(request, context);
      } catch (error) {
        code = error instanceof AppError ? error.code : "internal";
        throw error;
      } finally {
        requests.inc({ method, code });
        durations.observe((performance.now() - started) / 1000, { method });
      }
    });

  return {
    definition: PaymentServiceService,
    implementation: {
      initiatePayment: measured<InitiatePaymentRequest, InitiatePaymentResponse>(
        "InitiatePayment",
        async (request, context) => {
          const input = {
            principal: request.principal?.subject ?? "",
            idempotencyKey: request.idempotencyKey,
            fromAccount: request.fromAccount,
            toAccount: request.toAccount,
            amountMinor: request.amount,
            currency: request.currency,
            description: request.description,
          };
          // Validation comes first: a request it rejects never touches the key.
          const claim = await payments.initiatePaymentClaim(input);
          const { response, replayed } = await idempotency.run(claim, InitiatePaymentResponse, async () => {
            const result = await payments.initiatePayment(input, requestContext(context));
            if (!result.replayed) initiated.inc({ currency: result.payment.currency });
            return { payment: toPaymentMessage(result.payment), replayed: result.replayed };
          });
          const answer = replayed ? { ...response, replayed: true } : response;
          context.logger.info(answer.replayed ? "payment replayed" : "payment initiated", {
            payment_id: answer.payment?.id,
          });
          return answer;
        },
      ),
      getPayment: measured<GetPaymentRequest, GetPaymentResponse>("GetPayment", async (request) => {
        return { payment: toPaymentMessage(await payments.getPayment(request.id)) };
      }),
      listPayments: measured<ListPaymentsRequest, ListPaymentsResponse>("ListPayments", async (request) => {
        const listing = await payments.listPayments({
          ownerId: request.ownerId === "" ? undefined : request.ownerId,
          accountId: request.accountId === "" ? undefined : request.accountId,
          status: statusFilter(request.status),
          limit: request.limit,
          cursor: request.cursor === "" ? undefined : request.cursor,
        });
        return { payments: listing.payments.map(toPaymentMessage), nextCursor: listing.nextCursor ?? "" };
      }),
      refundPayment: measured<RefundPaymentRequest, RefundPaymentResponse>(
        "RefundPayment",
        async (request, context) => {
          const input = {
            principal: request.principal?.subject ?? "",
            roles: request.principal?.roles ?? [],
            idempotencyKey: request.idempotencyKey,
            paymentId: request.paymentId,
          };
          const claim = await payments.refundPaymentClaim(input);
          const { response, replayed } = await idempotency.run(claim, RefundPaymentResponse, async () => {
            const result = await payments.refundPayment(input, requestContext(context));
            return { payment: toPaymentMessage(result.payment), replayed: result.replayed };
          });
          const answer = replayed ? { ...response, replayed: true } : response;
          context.logger.info(answer.replayed ? "refund replayed" : "refund requested", {
            payment_id: answer.payment?.id,
          });
          return answer;
        },
      ),
    },
  };
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

function requestContext(context: HandlerContext): RequestContext {
  const traceparent = first(context.metadata, "traceparent");
  return {
    requestId: context.requestId,
    authorization: first(context.metadata, "authorization"),
    // Only a well-formed trace context travels on into stored event headers.
    traceparent: traceparent && TRACEPARENT.test(traceparent) ? traceparent : undefined,
  };
}

function first(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  if (value === undefined) return undefined;
  return typeof value === "string" ? value : value.toString("utf8");
}
