/**
 * What payment does when AccountService is gone or hangs: it answers
 * upstream_unavailable (gRPC UNAVAILABLE) within its deadline, stores
 * nothing, and reports not ready. Uses the real account program, stopped
 * mid-test, and a TCP listener that never speaks HTTP/2.
 */

import assert from "node:assert/strict";
import { status as GrpcStatus } from "@grpc/grpc-js";
import { freePort } from "@securepay/shared/testing";
import { failsWith, startStack } from "./_stack.ts";

async function readiness(adminPort: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
  return { status: response.status, body: await response.json() };
}

Deno.test("InitiatePayment answers upstream_unavailable once the account service has died", async () => {
  await using stack = await startStack({ deadlineMs: 2_000 });
  const alice = await stack.openAccount("alice", "EUR", 1_000);
  const bob = await stack.openAccount("bob", "EUR");
  await stack.initiate({ fromAccount: alice.id, toAccount: bob.id, amount: 10 });
  assert.equal((await readiness(stack.payment.adminPort)).status, 200);

  // Killed, not stopped: a crashed neighbour sends no GOAWAY, and the connection simply breaks.
  stack.account!.child.kill("SIGKILL");
  await stack.account!.child.status;
  const started = Date.now();
  const error = await failsWith(
    stack.initiate({ fromAccount: alice.id, toAccount: bob.id, amount: 20 }),
    "upstream_unavailable",
  );
  assert.ok(Date.now() - started < 2_000 + 1_000, `answered after ${Date.now() - started} ms`);
  assert.equal((error.cause as { code: number }).code, GrpcStatus.UNAVAILABLE);
  assert.doesNotMatch(error.message, /localhost|127\.0\.0\.1|ECONNREFUSED/);
  assert.deepEqual(await stack.counts(), { transactions: 1, outbox: 1 });

  const ready = await readiness(stack.payment.adminPort);
  assert.equal(ready.status, 503);
  assert.deepEqual(ready.body.checks, { database: "ok", "account-service": "failing" });
  // Reads do not need the account service.
  assert.equal((await stack.list({})).payments.length, 1);
});

Deno.test("InitiatePayment gives up on an account service that never answers, within the deadline", async () => {
  const port = freePort();
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    try {
      for await (const conn of listener) held.push(conn);
    } catch {
      // Closed at the end of the test.
    }
  })();
  try {
    await using stack = await startStack({ accountAddr: `127.0.0.1:${port}`, deadlineMs: 800 });
    const started = Date.now();
    const error = await failsWith(
      stack.initiate({ fromAccount: crypto.randomUUID(), toAccount: crypto.randomUUID(), amount: 10 }),
      "upstream_unavailable",
    );
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 700 && elapsed < 800 + 1_000, `answered after ${elapsed} ms`);
    assert.equal((error.cause as { code: number }).code, GrpcStatus.UNAVAILABLE);
    assert.deepEqual(await stack.counts(), { transactions: 0, outbox: 0 });
    assert.equal((await readiness(stack.payment.adminPort)).status, 503);
  } finally {
    listener.close();
    for (const conn of held) conn.close();
    await accepting;
  }
});
