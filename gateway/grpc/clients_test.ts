/**
 * The gRPC ports against a real gRPC server on a free port standing in for
 * the services, so that what travels on the wire (request id, bearer
 * token, principal, deadline) and how failures come back can be observed
 * directly. Behaviour against the real services is in tests/services_test.ts.
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
  type CreateAccountRequest,
  type GetAccountRequest,
} from "@securepay/shared/gen/account";
import { PaymentServiceService } from "@securepay/shared/gen/payment";
import type { CallContext } from "../domain/ports.ts";
import { grpcAccounts, grpcPayments } from "./clients.ts";

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

const CONTEXT: CallContext = {
  requestId: "req-42",
  principal: { subject: "alice", roles: ["USER", "AUDITOR"] },
  authorization: "Bearer header.payload.signature",
};

interface Seen {
  metadata: Metadata;
  deadlineMs: number;
  request: unknown;
}

async function startStandIn(behaviour: (request: unknown) => Promise<unknown>) {
  const seen: Seen[] = [];
  const record = (request: unknown, call: ServerUnaryCall<unknown, unknown>) => {
    const deadline = call.getDeadline();
    seen.push({
      metadata: call.metadata,
      deadlineMs: (deadline instanceof Date ? deadline.getTime() : Number(deadline)) - Date.now(),
      request,
    });
  };
  const handler = (name: string) =>
    unary(name, silentLogger, async (request: unknown, context) => {
      record(request, context.call);
      return await behaviour(request);
    });
  const server = await serveGrpc({
    host: "127.0.0.1",
    port: 0,
    credentials: ServerCredentials.createInsecure(),
    logger: silentLogger,
    services: [
      {
        definition: AccountServiceService,
        implementation: {
          createAccount: handler("CreateAccount"),
          getAccount: handler("GetAccount"),
        } as unknown as UntypedServiceImplementation,
      },
      { definition: PaymentServiceService, implementation: {} as UntypedServiceImplementation },
    ],
    drainMs: 100,
  });
  return { server, seen, address: `localhost:${server.port}` };
}

Deno.test("grpcAccounts() forwards request id, bearer token and principal, with a deadline", async () => {
  const standIn = await startStandIn(() => Promise.resolve({ account: ACCOUNT }));
  await using _server = standIn.server;
  await using accounts = grpcAccounts({
    address: standIn.address,
    credentials: credentials.createInsecure(),
    deadlineMs: 2_000,
  });
  assert.deepEqual(await accounts.port.createAccount({ ownerId: "alice", currency: "EUR" }, CONTEXT), ACCOUNT);
  const [seen] = standIn.seen;
  assert.deepEqual(seen!.metadata.get("x-request-id"), ["req-42"]);
  assert.deepEqual(seen!.metadata.get("authorization"), ["Bearer header.payload.signature"]);
  assert.ok(seen!.deadlineMs > 1_000 && seen!.deadlineMs <= 2_000, `deadline ${seen!.deadlineMs} ms`);
  assert.deepEqual(seen!.request as CreateAccountRequest, {
    ownerId: "alice",
    currency: "EUR",
    principal: { subject: "alice", roles: ["USER", "AUDITOR"] },
  });
  await accounts.checkHealth();
});

Deno.test("grpcAccounts() throws the AppError the service meant", async () => {
  const standIn = await startStandIn((request) => {
    const { id } = request as GetAccountRequest;
    throw id === "x" ? new AppError("not_found", "account not found") : new Error("disk on fire at db-7.internal");
  });
  await using _server = standIn.server;
  await using accounts = grpcAccounts({
    address: standIn.address,
    credentials: credentials.createInsecure(),
    deadlineMs: 2_000,
  });
  await assert.rejects(accounts.port.getAccount("x", CONTEXT), (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, "not_found");
    assert.equal(e.message, "account not found");
    return true;
  });
  // Another service's internals never travel on.
  await assert.rejects(accounts.port.getAccount("y", CONTEXT), (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, "internal");
    assert.doesNotMatch(e.message, /disk|db-7/);
    return true;
  });
});

Deno.test("grpcAccounts() gives up at the deadline with upstream_unavailable", async () => {
  let release: () => void = () => {};
  const stuck = new Promise<void>((resolve) => release = resolve);
  const standIn = await startStandIn(async () => {
    await stuck;
    return { account: ACCOUNT };
  });
  await using _server = standIn.server;
  await using accounts = grpcAccounts({
    address: standIn.address,
    credentials: credentials.createInsecure(),
    deadlineMs: 200,
  });
  const started = Date.now();
  await assert.rejects(accounts.port.getAccount(ACCOUNT.id, CONTEXT), (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, "upstream_unavailable");
    return true;
  });
  assert.ok(Date.now() - started < 2_000);
  release();
});

Deno.test("checkHealth() fails when nothing listens or the service is draining", async () => {
  const standIn = await startStandIn(() => Promise.resolve({}));
  await using _server = standIn.server;
  await using payments = grpcPayments({
    address: standIn.address,
    credentials: credentials.createInsecure(),
    deadlineMs: 1_000,
  });
  await payments.checkHealth();
  standIn.server.setServing(false);
  await assert.rejects(payments.checkHealth());

  const port = standIn.server.port;
  await standIn.server.close();
  await using gone = grpcAccounts({
    address: `localhost:${port}`,
    credentials: credentials.createInsecure(),
    deadlineMs: 1_000,
  });
  await assert.rejects(gone.checkHealth());
});
