/**
 * The payment program as an operator runs it: `payment/main.ts` with
 * environment variables, next to the real account program. It becomes
 * ready, serves metrics, and exits 0 on SIGTERM; bad configuration exits 2
 * naming every bad variable.
 */

import assert from "node:assert/strict";
import { freePort, spawnProgram } from "@securepay/shared/testing";
import { createPaymentDatabase } from "./_database.ts";

Deno.test("payment/main.ts becomes ready, serves metrics and stops cleanly on SIGTERM", async () => {
  await using database = await createPaymentDatabase();
  const accountGrpc = freePort();
  const accountAdmin = freePort();
  await using _account = await spawnProgram("account", {
    main: "account/main.ts",
    env: {
      GRPC_PORT: String(accountGrpc),
      ADMIN_PORT: String(accountAdmin),
      ADMIN_HOST: "127.0.0.1",
      DATABASE_URL: database.url,
      LOG_LEVEL: "warn",
    },
    adminPort: accountAdmin,
  });
  const adminPort = freePort();
  const payment = await spawnProgram("payment", {
    main: "payment/main.ts",
    env: {
      GRPC_PORT: String(freePort()),
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: "127.0.0.1",
      DATABASE_URL: database.url,
      ACCOUNT_SERVICE_ADDR: `localhost:${accountGrpc}`,
      LOG_LEVEL: "info",
    },
    adminPort,
  });
  try {
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    assert.deepEqual(await ready.json(), { status: "ready", checks: { database: "ok", "account-service": "ok" } });
    const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    const text = await metrics.text();
    for (const name of ["payment_rpc_requests_total", "payment_rpc_duration_seconds", "payments_initiated_total"]) {
      assert.match(text, new RegExp(`# TYPE ${name} `), name);
    }
    // The schema was migrated by the program itself.
    const [row] = await database.db.sql`select max(version) as version from payments.schema_migrations`;
    assert.equal(row!.version, 2);
  } finally {
    const code = await payment.stop(10_000);
    assert.equal(code, 0, payment.output());
  }
  const lines = payment.output().trim().split("\n").map((line) => JSON.parse(line));
  assert.ok(lines.every((l) => l.service === "payment" && typeof l.time === "string"), "JSON log lines");
  assert.ok(lines.some((l) => l.msg === "stopped"), "logs that it stopped");
  await assert.rejects(fetch(`http://127.0.0.1:${adminPort}/healthz`));
});

Deno.test("payment/main.ts exits 2 and names every bad variable when the configuration is wrong", async () => {
  const program = await spawnProgram("payment", {
    main: "payment/main.ts",
    env: { GRPC_PORT: "x", ACCOUNT_SERVICE_ADDR: "nope", GRPC_DEADLINE_MS: "-1" },
  });
  assert.equal(await program.child.status.then((s) => s.code), 2);
  const output = (await program.stop(), program.output());
  for (const name of ["GRPC_PORT", "ACCOUNT_SERVICE_ADDR", "GRPC_DEADLINE_MS", "DATABASE_URL"]) {
    assert.match(output, new RegExp(name));
  }
});
