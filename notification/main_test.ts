import assert from "node:assert/strict";
import { freePort, spawnProgram } from "@securepay/shared/testing";
import { parseNotificationConfig } from "./config.ts";
import { main } from "./main.ts";

Deno.test("parseNotificationConfig() reports every bad variable at once", () => {
  assert.throws(
    () => parseNotificationConfig({ ADMIN_PORT: "99999", LOG_LEVEL: "loud", SHUTDOWN_TIMEOUT_MS: "x" }),
    (error: Error) => {
      assert.match(error.message, /ADMIN_PORT/);
      assert.match(error.message, /LOG_LEVEL/);
      assert.match(error.message, /SHUTDOWN_TIMEOUT_MS/);
      return true;
    },
  );
});

Deno.test("main() exits 2 with a readable message on bad configuration", async () => {
  assert.equal(await main({ ADMIN_PORT: "not-a-port" }), 2);
});

Deno.test("notification serves its admin endpoints and stops cleanly on SIGTERM", async () => {
  // Runs the real program as an operator would and probes it over HTTP.
  const adminPort = freePort();
  const program = await spawnProgram("notification", {
    main: "notification/main.ts",
    env: { ADMIN_PORT: String(adminPort), ADMIN_HOST: "127.0.0.1" },
    adminPort,
  });
  try {
    const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /securepay_up\{service="notification"\} 1/);
    const missing = await fetch(`http://127.0.0.1:${adminPort}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
  } finally {
    const code = await program.stop();
    assert.equal(code, 0, program.output());
  }
  assert.match(program.output(), /"msg":"stopped"/);
});
