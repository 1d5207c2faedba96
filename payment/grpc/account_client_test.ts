/**
 * The AccountService client against a real gRPC server on a free port that
 * stands in for the account program, so that what travels on the wire
 * (metadata, deadline, status codes) can be observed directly.
 */

import assert from "node:assert/strict";
import {
  credentials,
  type Metadata,
  ServerCredentials,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import { AppError, serveGrpc, silentLogger, unary } from "@securepay/shared";
import {
  type Account,
  AccountServiceService,
  AccountStatus,
  type CheckFundsRequest,
  type GetAccountRequest,
} from "@securepay/shared/gen/account";
import { createAccountClient } from "./account_client.ts";

const ACCOUNT: Account = {
  id: "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a01",
  ownerId: "alice",
  currency: "EUR",
  balance: 500,
  version: 3,
  status: AccountStatus.ACCOUNT_STATUS_OPEN,
  createdAt: "2025-01-01T00:00:00.000Z",
  updatedAt: "2025-01-01T00:00:00.000Z",
};

interface Seen {
  metadata: Metadata;
  deadline: number;
}

async function standIn(handlers: UntypedServiceImplementation) {
  return await serveGrpc({
    host: "127.0.0.1",
    port: 0,
    credentials: ServerCredentials.createInsecure(),
    services: [{ definition: AccountServiceService, implementation: handlers }],
    logger: silentLogger,
    drainMs: 100,
  });
}

function record(seen: Seen[], call: ServerUnaryCall<unknown, unknown>) {
  seen.push({ metadata: call.metadata, deadline: new Date(call.getDeadline() as Date).getTime() });
}

Deno.test("createAccountClient() forwards request id, authorization and traceparent with a deadline", async () => {
  const seen: Seen[] = [];
  await using server = await standIn({
    getAccount: unary<GetAccountRequest, unknown>("GetAccount", silentLogger, (request, context) => {
      record(seen, context.call);
      return Promise.resolve({ account: { ...ACCOUNT, id: request.id, status: AccountStatus.ACCOUNT_STATUS_CLOSED } });
    }),
    checkFunds: unary<CheckFundsRequest, unknown>("CheckFunds", silentLogger, (request, context) => {
      record(seen, context.call);
      return Promise.resolve({ sufficient: request.amount <= ACCOUNT.balance, account: ACCOUNT });
    }),
  });
  await using client = createAccountClient({
    address: `localhost:${server.port}`,
    credentials: credentials.createInsecure(),
    deadlineMs: 3_000,
  });
  const context = {
    requestId: "req-42",
    authorization: "Bearer abc",
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  };
  const started = Date.now();
  const funds = await client.checkFunds({ accountId: ACCOUNT.id, amountMinor: 501, currency: "EUR" }, context);
  assert.deepEqual(funds, {
    sufficient: false,
    account: { id: ACCOUNT.id, ownerId: "alice", currency: "EUR", balanceMinor: 500, status: "OPEN" },
  });
  const other = await client.getAccount("7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a02", { requestId: "req-43" });
  assert.equal(other.status, "CLOSED");

  assert.equal(seen.length, 2);
  assert.deepEqual(seen[0]!.metadata.get("x-request-id"), ["req-42"]);
  assert.deepEqual(seen[0]!.metadata.get("authorization"), ["Bearer abc"]);
  assert.deepEqual(seen[0]!.metadata.get("traceparent"), [context.traceparent]);
  assert.deepEqual(seen[1]!.metadata.get("x-request-id"), ["req-43"]);
  assert.deepEqual(seen[1]!.metadata.get("authorization"), []);
  for (const s of seen) {
    assert.ok(s.deadline > started && s.deadline <= Date.now() + 3_000, "every call carries the deadline");
  }
  await client.checkHealth();
});

Deno.test("createAccountClient() turns the account service's errors back into AppErrors", async () => {
  await using server = await standIn({
    getAccount: unary("GetAccount", silentLogger, () => Promise.reject(new AppError("not_found", "Account not found"))),
    checkFunds: unary(
      "CheckFunds",
      silentLogger,
      () => Promise.reject(new AppError("currency_mismatch", "Account currency is EUR, not USD")),
    ),
  });
  await using client = createAccountClient({
    address: `localhost:${server.port}`,
    credentials: credentials.createInsecure(),
    deadlineMs: 3_000,
  });
  await assert.rejects(
    client.getAccount(ACCOUNT.id, { requestId: "r" }),
    (e) => e instanceof AppError && e.code === "not_found",
  );
  await assert.rejects(
    client.checkFunds({ accountId: ACCOUNT.id, amountMinor: 1, currency: "USD" }, { requestId: "r" }),
    (e) => e instanceof AppError && e.code === "currency_mismatch",
  );
});
