/**
 * The gateway program as an operator runs it: main.ts in a child process
 * with environment variables, in front of the real account and payment
 * programs, answering over real sockets, stopping cleanly on SIGTERM.
 */

import assert from "node:assert/strict";
import { createTestDatabase, freePort, spawnProgram } from "@securepay/shared/testing";
import { startTestIdp } from "./tests/_test_idp.ts";
import { spawnService } from "./tests/_services.ts";
import { deadAddress } from "./tests/_harness.ts";

Deno.test("main() exits 2 and names every bad variable when the configuration is invalid", async () => {
  const program = await spawnProgram("gateway", { main: "gateway/main.ts", env: { PORT: "nope" } });
  assert.equal((await program.child.status).code, 2);
  await program.stop();
  for (const name of ["PORT", "AUTH_JWKS_URL", "AUTH_ISSUER"]) assert.match(program.output(), new RegExp(name));
});

Deno.test("the gateway program serves the API over HTTP, reports ready, and stops with 0 on SIGTERM", async () => {
  await using idp = await startTestIdp();
  await using database = await createTestDatabase();
  const account = await spawnService("account", { DATABASE_URL: database.url });
  try {
    const payment = await spawnService("payment", {
      DATABASE_URL: database.url,
      ACCOUNT_SERVICE_ADDR: account.address,
    });
    try {
      const port = freePort();
      const adminPort = freePort();
      const gateway = await spawnProgram("gateway", {
        main: "gateway/main.ts",
        env: {
          HOST: "127.0.0.1",
          PORT: String(port),
          ADMIN_HOST: "127.0.0.1",
          ADMIN_PORT: String(adminPort),
          AUTH_JWKS_URL: idp.jwksUrl,
          AUTH_ISSUER: idp.issuer,
          ACCOUNT_SERVICE_ADDR: account.address,
          PAYMENT_SERVICE_ADDR: payment.address,
          LOG_LEVEL: "info",
        },
        adminPort,
      });
      try {
        const token = await idp.sign({ sub: "alice" });
        const created = await fetch(`http://127.0.0.1:${port}/v1/accounts`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-request-id": "e2e-1" },
          body: JSON.stringify({ currency: "EUR" }),
        });
        assert.equal(created.status, 201);
        assert.equal(created.headers.get("x-request-id"), "e2e-1");
        assert.equal((await created.json()).owner_id, "alice");

        const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
        assert.equal(health.status, 200);
        await health.body?.cancel();
        const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
        assert.deepEqual(await ready.json(), {
          status: "ready",
          checks: { "account-service": "ok", "payment-service": "ok" },
        });
        const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
        assert.match(metrics, /http_requests_total\{method="POST",route="\/v1\/accounts",status="201"\} 1/);
      } finally {
        assert.equal(await gateway.stop(), 0, gateway.output());
      }
      const log = gateway.output();
      assert.match(log, /"msg":"request".*"request_id":"e2e-1"/);
      assert.ok(!log.includes("Bearer"), "the Authorization header reached the logs");
    } finally {
      await payment.program.stop();
    }
  } finally {
    await account.program.stop();
  }
});

Deno.test("the gateway program is live but not ready while its services are down", async () => {
  await using idp = await startTestIdp();
  const adminPort = freePort();
  const gateway = await spawnProgram("gateway", {
    main: "gateway/main.ts",
    env: {
      HOST: "127.0.0.1",
      PORT: String(freePort()),
      ADMIN_HOST: "127.0.0.1",
      ADMIN_PORT: String(adminPort),
      AUTH_JWKS_URL: idp.jwksUrl,
      AUTH_ISSUER: idp.issuer,
      ACCOUNT_SERVICE_ADDR: deadAddress(),
      PAYMENT_SERVICE_ADDR: deadAddress(),
      GRPC_DEADLINE_MS: "500",
    },
  });
  try {
    const deadline = Date.now() + 30_000;
    let live = false;
    while (!live && Date.now() < deadline) {
      try {
        const response = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
        await response.body?.cancel();
        live = response.status === 200;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    assert.ok(live, gateway.output());
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual((await ready.json()).checks, { "account-service": "failing", "payment-service": "failing" });
  } finally {
    assert.equal(await gateway.stop(), 0, gateway.output());
  }
});
