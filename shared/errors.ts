/**
 * The platform's error vocabulary and the one table that maps each stable
 * problem code to an HTTP status (gateway) and a gRPC status (services).
 *
 * Operating errors (bad input, missing rows, insufficient funds) are thrown
 * as `AppError` with a code from {@link ERROR_CODES}; anything else is a
 * programmer or infrastructure error and surfaces as `internal` without its
 * details.
 */

import { status as GrpcStatus } from "@grpc/grpc-js";

export interface ErrorCodeEntry {
  readonly httpStatus: number;
  readonly grpcStatus: GrpcStatus;
  readonly title: string;
}

/** Stable problem codes of DESIGN.md §5, one row each. */
export const ERROR_CODES = {
  validation_error: { httpStatus: 400, grpcStatus: GrpcStatus.INVALID_ARGUMENT, title: "Invalid request" },
  idempotency_key_missing: {
    httpStatus: 400,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    title: "Idempotency-Key header required",
  },
  unauthenticated: { httpStatus: 401, grpcStatus: GrpcStatus.UNAUTHENTICATED, title: "Authentication required" },
  forbidden: { httpStatus: 403, grpcStatus: GrpcStatus.PERMISSION_DENIED, title: "Forbidden" },
  not_found: { httpStatus: 404, grpcStatus: GrpcStatus.NOT_FOUND, title: "Not found" },
  method_not_allowed: { httpStatus: 405, grpcStatus: GrpcStatus.UNIMPLEMENTED, title: "Method not allowed" },
  idempotency_key_in_use: {
    httpStatus: 409,
    grpcStatus: GrpcStatus.ABORTED,
    title: "Idempotency-Key in use by a request still running",
  },
  conflict: { httpStatus: 409, grpcStatus: GrpcStatus.FAILED_PRECONDITION, title: "Conflict" },
  request_timeout: {
    httpStatus: 408,
    grpcStatus: GrpcStatus.DEADLINE_EXCEEDED,
    title: "Request body not received in time",
  },
  payload_too_large: { httpStatus: 413, grpcStatus: GrpcStatus.INVALID_ARGUMENT, title: "Payload too large" },
  unsupported_media_type: {
    httpStatus: 415,
    grpcStatus: GrpcStatus.INVALID_ARGUMENT,
    title: "Unsupported media type",
  },
  idempotency_key_reused: {
    httpStatus: 422,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    title: "Idempotency-Key reused with a different request",
  },
  insufficient_funds: { httpStatus: 422, grpcStatus: GrpcStatus.FAILED_PRECONDITION, title: "Insufficient funds" },
  currency_mismatch: { httpStatus: 422, grpcStatus: GrpcStatus.FAILED_PRECONDITION, title: "Currency mismatch" },
  account_closed: { httpStatus: 422, grpcStatus: GrpcStatus.FAILED_PRECONDITION, title: "Account closed" },
  payment_not_refundable: {
    httpStatus: 422,
    grpcStatus: GrpcStatus.FAILED_PRECONDITION,
    title: "Payment cannot be refunded",
  },
  rate_limited: { httpStatus: 429, grpcStatus: GrpcStatus.RESOURCE_EXHAUSTED, title: "Too many requests" },
  internal: { httpStatus: 500, grpcStatus: GrpcStatus.INTERNAL, title: "Internal error" },
  upstream_unavailable: { httpStatus: 503, grpcStatus: GrpcStatus.UNAVAILABLE, title: "Upstream unavailable" },
} as const satisfies Record<string, ErrorCodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
}

/** One field that failed validation, reported back to the caller. */
export interface FieldIssue {
  /** Dotted path of the field, for example `amount` or `body.currency`. */
  readonly field: string;
  readonly message: string;
}

/**
 * An expected, caller-visible failure. `message` is safe to show to the
 * caller; `cause` (if any) is for logs only.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly issues: readonly FieldIssue[];

  constructor(code: ErrorCode, message: string, options: { issues?: readonly FieldIssue[]; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "AppError";
    this.code = code;
    this.issues = options.issues ?? [];
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }

  get grpcStatus(): GrpcStatus {
    return ERROR_CODES[this.code].grpcStatus;
  }
}

export function validationError(issues: readonly FieldIssue[]): AppError {
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join("; ");
  return new AppError("validation_error", summary || "Invalid request", { issues });
}

export function notFound(what: string): AppError {
  return new AppError("not_found", `${what} not found`);
}

/** The HTTP status of a gRPC status that carries no SecurePay code. */
export function httpCodeForGrpcStatus(code: GrpcStatus): ErrorCode {
  switch (code) {
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      return "validation_error";
    case GrpcStatus.UNAUTHENTICATED:
    case GrpcStatus.PERMISSION_DENIED:
      // Without a SecurePay code these come from mTLS: a service refused the
      // caller's own workload identity. That is the platform's fault, not the
      // end user's, and must not read as a bad token (401) or a refusal (403).
      return "upstream_unavailable";
    case GrpcStatus.NOT_FOUND:
      return "not_found";
    case GrpcStatus.ALREADY_EXISTS:
    case GrpcStatus.ABORTED:
      return "conflict";
    case GrpcStatus.FAILED_PRECONDITION:
      return "conflict";
    case GrpcStatus.RESOURCE_EXHAUSTED:
      return "rate_limited";
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.CANCELLED:
      return "upstream_unavailable";
    default:
      return "internal";
  }
}
