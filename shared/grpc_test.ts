import assert from "node:assert/strict";
import { credentials, status as GrpcStatus, type UntypedServiceImplementation } from "@grpc/grpc-js";
import {
  AccountServiceClient,
  AccountServiceService,
  type GetAccountRequest,
} from "./gen/securepay/account/v1/account.ts";
import { HealthCheckResponse_ServingStatus, HealthClient } from "./gen/grpc/health/v1/health.ts";
import { AppError } from "./errors.ts";
import { callUnary, fromServiceError, serveGrpc, unary } from "./grpc.ts";
import { silentLogger } from "./log.ts";
import { ServerCredentials } from "@grpc/grpc-js";

/** A real server whose GetAccount fails in the way the requested id names. */
async function startServer() {
  const implementation = {
    getAccount: unary("GetAccount", silentLogger, (request: GetAccountRequest) => {
      if (request.id === "missing") throw new AppError("not_found", "account not found");
      if (request.id === "invalid") {
        throw new AppError("validation_error", "id: must be a UUID", { issues: [{ field: "id", message: "bad" }] });
      }
      if (request.id === "crash") throw new Error("relation accounts.balances does not exist at 10.0.0.7");
      if (request.id === "slow") return new Promise((r) => setTimeout(() => r({ account: undefined }), 500));
      return Promise.resolve({ account: undefined });
    }),
  } as unknown as UntypedServiceImplementation;
  return await serveGrpc({
    host: "127.0.0.1",
    port: 0,
    credentials: ServerCredentials.createInsecure(),
    services: [{ definition: AccountServiceService, implementation }],
    logger: silentLogger,
    healthNames: ["securepay.account.v1.AccountService"],
    drainMs: 1000,
  });
}

Deno.test("callUnary() turns a server's AppError back into the same code, message and issues", async () => {
  await using server = await startServer();
  const client = new AccountServiceClient(`localhost:${server.port}`, credentials.createInsecure());
  try {
    await assert.rejects(callUnary(client, client.getAccount, { id: "missing" }), (e: AppError) => {
      assert.equal(e.code, "not_found");
      assert.equal(e.message, "account not found");
      return true;
    });
    await assert.rejects(callUnary(client, client.getAccount, { id: "invalid" }), (e: AppError) => {
      assert.equal(e.code, "validation_error");
      assert.deepEqual(e.issues, [{ field: "id", message: "bad" }]);
      return true;
    });
  } finally {
    client.close();
  }
});

Deno.test("unary() hides the details of unexpected errors behind INTERNAL", async () => {
  await using server = await startServer();
  const client = new AccountServiceClient(`localhost:${server.port}`, credentials.createInsecure());
  try {
    await assert.rejects(callUnary(client, client.getAccount, { id: "crash" }), (e: AppError) => {
      assert.equal(e.code, "internal");
      assert.ok(!e.message.includes("10.0.0.7"));
      assert.ok(!e.message.includes("relation"));
      return true;
    });
  } finally {
    client.close();
  }
});

Deno.test("callUnary() gives up at its deadline with upstream_unavailable", async () => {
  await using server = await startServer();
  const client = new AccountServiceClient(`localhost:${server.port}`, credentials.createInsecure());
  try {
    const started = Date.now();
    await assert.rejects(callUnary(client, client.getAccount, { id: "slow" }, { deadlineMs: 100 }), (e: AppError) => {
      assert.equal(e.code, "upstream_unavailable");
      return true;
    });
    assert.ok(Date.now() - started < 450);
  } finally {
    client.close();
  }
});

Deno.test("callUnary() reports a server that does not listen as upstream_unavailable", async () => {
  const client = new AccountServiceClient("localhost:1", credentials.createInsecure());
  try {
    await assert.rejects(callUnary(client, client.getAccount, { id: "x" }, { deadlineMs: 500 }), (e: AppError) => {
      assert.equal(e.code, "upstream_unavailable");
      return true;
    });
  } finally {
    client.close();
  }
});

Deno.test("serveGrpc() answers grpc.health.v1 and stops serving when drained", async () => {
  await using server = await startServer();
  const health = new HealthClient(`localhost:${server.port}`, credentials.createInsecure());
  try {
    const ok = await callUnary(health, health.check, { service: "securepay.account.v1.AccountService" });
    assert.equal(ok.status, HealthCheckResponse_ServingStatus.SERVING);
    await assert.rejects(callUnary(health, health.check, { service: "nope" }), (e: AppError) => e.code === "not_found");
    server.setServing(false);
    const draining = await callUnary(health, health.check, { service: "" });
    assert.equal(draining.status, HealthCheckResponse_ServingStatus.NOT_SERVING);
  } finally {
    health.close();
  }
});

Deno.test("fromServiceError() maps plain gRPC statuses through the one table", () => {
  assert.equal(fromServiceError({ code: GrpcStatus.UNAVAILABLE }).code, "upstream_unavailable");
  assert.equal(fromServiceError({ code: GrpcStatus.PERMISSION_DENIED }).code, "upstream_unavailable");
  assert.equal(fromServiceError({ code: GrpcStatus.UNAUTHENTICATED }).code, "upstream_unavailable");
  assert.equal(fromServiceError({ code: GrpcStatus.UNKNOWN }).code, "internal");
  assert.equal(fromServiceError(new Error("x")).code, "internal");
});
