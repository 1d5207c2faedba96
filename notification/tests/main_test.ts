/**
 * The notification program as an operator runs it: main.ts in a child
 * process with environment variables, probed over its admin port and
 * stopped with SIGTERM; without KAFKA_BROKERS it runs its admin endpoints only.
 */

import assert from "node:assert/strict";
import { createTestDatabase, freePort, spawnProgram } from "@securepay/shared/testing";
import { main } from "../main.ts";

Deno.test("main() exits 2 with a readable message on bad configuration", async () => {
  assert.equal(await main({ ADMIN_PORT: "not-a-port" }), 2);
});

Deno.test("main() exits 1 when the database cannot be reached", async () => {
  const port = freePort();
  const code = await main({
    DATABASE_URL: `postgres://nobody@127.0.0.1:${port}/none`,
    ADMIN_PORT: "0",
    LOG_LEVEL: "error",
  });
  assert.equal(code, 1);
});

Deno.test("notification serves its admin endpoints without Kafka and stops cleanly on SIGTERM", async () => {
  await using database = await createTestDatabase();
  const adminPort = freePort();
  const program = await spawnProgram("notification", {
    main: "notification/main.ts",
    env: { ADMIN_PORT: String(adminPort), ADMIN_HOST: "127.0.0.1", DATABASE_URL: database.url, DATABASE_POOL_MAX: "2" },
    adminPort,
  });
  try {
    const health = await fetch(`http://127.0.0.1:${adminPort}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: "ok" });
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    assert.deepEqual(await ready.json(), { status: "ready", checks: { database: "ok" } });
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
  const output = program.output();
  assert.match(output, /"msg":"migrations applied".*"applied":\[1\]/);
  assert.match(output, /"level":"warn".*KAFKA_BROKERS is not set/);
  assert.match(output, /"msg":"stopped"/);
});
