/** Pieces every route module shares. */

import type { Context } from "hono";
import { z } from "@hono/zod-openapi";
import { AppError, type FieldIssue, PAGE_LIMIT_DEFAULT } from "@securepay/shared";
import type { AccountsPort, CallContext, PaymentsPort } from "../domain/ports.ts";
import type { GatewayEnv } from "../http/context.ts";
import { PROBLEM_CONTENT_TYPE } from "../http/problem.ts";
import { ProblemSchema } from "./schemas.ts";

export interface RouteDeps {
  accounts: AccountsPort;
  payments: PaymentsPort;
  bodyLimitBytes: number;
}

export const BEARER_SECURITY = [{ bearer: [] }];

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: "Invalid request (`validation_error`, `idempotency_key_missing`)",
  401: "Missing or invalid bearer token (`unauthenticated`)",
  403: "The caller may not do this (`forbidden`)",
  404: "No such resource, or not one the caller may see (`not_found`)",
  409: "The Idempotency-Key is in use by a request still running (`idempotency_key_in_use`)",
  413: "The body exceeds 1 MiB (`payload_too_large`)",
  415: "The body is not application/json (`unsupported_media_type`)",
  422: "Refused by a business rule (`currency_mismatch`, `insufficient_funds`, `idempotency_key_reused`, …)",
  503: "A service behind the gateway is unavailable (`upstream_unavailable`)",
};

/** OpenAPI response entries for the problems a route can answer. */
export function problems(...statuses: (keyof typeof PROBLEM_DESCRIPTIONS)[]) {
  const all = [...new Set([400, 401, 503, 500, ...statuses])].sort();
  return Object.fromEntries(all.map((status) => [status, {
    description: PROBLEM_DESCRIPTIONS[status] ?? "Internal error (`internal`)",
    content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
  }]));
}

export const REPLAYED_HEADER = "Idempotent-Replayed";

export const replayedHeaders = z.object({
  [REPLAYED_HEADER]: z.literal("true").optional().openapi({
    description: "Present when this answers a repeated Idempotency-Key with the stored result",
  }),
});

export function callContextOf(c: Context<GatewayEnv>): CallContext {
  return { requestId: c.var.requestId, principal: c.var.principal, authorization: c.var.authorization };
}

export function pageRequestOf(query: { limit?: number | undefined; cursor?: string | undefined }) {
  return { limit: query.limit ?? PAGE_LIMIT_DEFAULT, cursor: query.cursor };
}

export function forbidden(detail: string): AppError {
  return new AppError("forbidden", detail);
}

/** Where a zod issue came from, as the caller names it. */
export type ValidationTarget = "json" | "query" | "param" | "header" | "cookie" | "form";

interface IssueLike {
  code: string;
  path: readonly PropertyKey[];
  message: string;
  keys?: readonly string[];
}

export function fieldIssuesOf(issues: readonly IssueLike[], target: ValidationTarget): FieldIssue[] {
  const out: FieldIssue[] = [];
  for (const issue of issues) {
    const path = issue.path.map(String);
    if (issue.code === "unrecognized_keys" && issue.keys) {
      for (const key of issue.keys) {
        out.push({ field: [...path, key].join(".").slice(0, 128), message: "is not a known field" });
      }
      continue;
    }
    let field = path.join(".");
    if (target === "header" && field === "idempotency-key") field = "Idempotency-Key";
    if (field === "") field = target === "json" ? "body" : target;
    out.push({ field: field.slice(0, 128), message: issue.message });
  }
  return out.slice(0, 50);
}
