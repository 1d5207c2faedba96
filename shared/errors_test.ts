import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { AppError, ERROR_CODES, validationError } from "./errors.ts";

Deno.test("ERROR_CODES maps every problem code of the API contract to its HTTP status", () => {
  const expected: Record<string, number> = {
    validation_error: 400,
    idempotency_key_missing: 400,
    unauthenticated: 401,
    forbidden: 403,
    not_found: 404,
    idempotency_key_in_use: 409,
    idempotency_key_reused: 422,
    insufficient_funds: 422,
    currency_mismatch: 422,
    payload_too_large: 413,
    rate_limited: 429,
    upstream_unavailable: 503,
    internal: 500,
  };
  for (const [code, status] of Object.entries(expected)) {
    assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].httpStatus, status, code);
  }
});

Deno.test("AppError carries its statuses and issues", () => {
  const error = validationError([{ field: "amount", message: "must be greater than 0" }]);
  assert.equal(error.httpStatus, 400);
  assert.equal(error.grpcStatus, GrpcStatus.INVALID_ARGUMENT);
  assert.equal(error.message, "amount: must be greater than 0");
  assert.ok(new AppError("not_found", "x") instanceof Error);
});
