/**
 * RFC 9457 problem responses: the one place where an error becomes HTTP.
 * The status always comes from `ERROR_CODES`, and nothing but the safe
 * message of an AppError reaches the caller.
 */

import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import { AppError, ERROR_CODES, type ErrorCode, type FieldIssue, silentLogger } from "@securepay/shared";
import type { GatewayEnv } from "./context.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
export const PROBLEM_TYPE_BASE = "https://securepay.dev/problems/";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  request_id: string;
  errors?: FieldIssue[];
}

/** The problem document for `error`, as the caller will see it. */
export function problemOf(error: AppError, options: { requestId: string; instance?: string }): Problem {
  const entry = ERROR_CODES[error.code];
  const problem: Problem = {
    type: PROBLEM_TYPE_BASE + error.code,
    title: entry.title,
    status: entry.httpStatus,
    detail: error.message,
    code: error.code,
    request_id: options.requestId,
  };
  if (options.instance !== undefined) problem.instance = options.instance;
  if (error.issues.length > 0) problem.errors = error.issues.map((i) => ({ field: i.field, message: i.message }));
  return problem;
}

/** Statuses Hono itself raises, as our codes. */
function codeOfHttpStatus(status: number): ErrorCode {
  switch (status) {
    case 400:
      return "validation_error";
    case 401:
      return "unauthenticated";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    default:
      return "internal";
  }
}

/** Any thrown value as an AppError; unknown errors become `internal` without details. */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  if (error instanceof HTTPException) {
    const code = codeOfHttpStatus(error.status);
    return new AppError(code, code === "internal" ? "internal error" : ERROR_CODES[code].title, { cause: error });
  }
  return new AppError("internal", "internal error", { cause: error });
}

/**
 * When a request that carries an Idempotency-Key meets an unavailable or
 * too slow service, the gateway cannot know whether it took effect (the
 * call may have committed just after its deadline). The caller learns that
 * a retry with the same key is the safe way to find out.
 */
const UNKNOWN_OUTCOME_DETAIL =
  "A service behind the gateway is unavailable or did not answer in time, so the request " +
  "may or may not have taken effect. Retry it with the same Idempotency-Key: it is applied at most once, and the " +
  "retry answers with its outcome.";

export function problemResponse(c: Context<GatewayEnv>, error: AppError): Response {
  if (error.code === "upstream_unavailable" && c.req.method === "POST" && c.req.header("idempotency-key")) {
    error = new AppError("upstream_unavailable", UNKNOWN_OUTCOME_DETAIL, { cause: error.cause });
  }
  const requestId = c.get("requestId") ?? crypto.randomUUID();
  const problem = problemOf(error, { requestId, instance: c.req.path.slice(0, 256) });
  const headers: Record<string, string> = {
    "content-type": PROBLEM_CONTENT_TYPE,
    "x-request-id": requestId,
    "cache-control": "no-store",
  };
  if (error.code === "unauthenticated") {
    // RFC 6750: no error attribute when the request carried no credentials at all.
    headers["www-authenticate"] = c.req.header("authorization") === undefined
      ? 'Bearer realm="securepay"'
      : 'Bearer realm="securepay", error="invalid_token"';
  }
  if (error.code === "upstream_unavailable") headers["retry-after"] = "1";
  return new Response(JSON.stringify(problem), { status: problem.status, headers });
}

/** The app's one `onError`: logs what the caller must not see, answers a problem. */
export const handleError: ErrorHandler<GatewayEnv> = (error, c) => {
  const appError = toAppError(error);
  const logger = c.get("logger") ?? silentLogger;
  if (appError.code === "internal") logger.error("request failed", { error });
  else if (appError.code === "upstream_unavailable") logger.warn("upstream unavailable", { error: appError.cause });
  return problemResponse(c, appError);
};

/**
 * Answers 405 with `Allow` when the path exists for other methods, else 404.
 * `methodsOf` lists the methods registered for a path.
 */
export function notFoundHandler(methodsOf: (path: string) => readonly string[]): NotFoundHandler<GatewayEnv> {
  return (c) => {
    const allowed = methodsOf(c.req.path);
    if (allowed.length === 0) return problemResponse(c, new AppError("not_found", "no such resource"));
    const response = problemResponse(
      c,
      new AppError("method_not_allowed", `${c.req.method.slice(0, 16)} is not allowed here`),
    );
    response.headers.set("allow", allowed.join(", "));
    return response;
  };
}
