/**
 * The account program as an operator runs it: main.ts in a child process
 * with environment variables, probed over its admin port and gRPC, stopped
 * with SIGTERM. Two starts on one database prove migrations are idempotent.
 */

import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { callUnary } from "@securepay/shared";
import { AccountServiceClient } from "@securepay/shared/gen/account";
import { createTestDatabase, freePort, spawnProgram } from "@securepay/shared/testing";
import { main } from "../main.ts";

Deno.test("main() exits 2 with a readable message on bad configuration", async () => {
  assert.equal(await main({ GRPC_PORT: "not-a-port" }), 2);
});

Deno.test("main() exits 1 when the database cannot be reached", async () => {
  const port = freePort();
  const code = await main({
    DATABASE_URL: `postgres://nobody@127.0.0.1:${port}/none`,
    GRPC_PORT: "0",
    ADMIN_PORT: "0",
    LOG_LEVEL: "error",
  });
  assert.equal(code, 1);
});

Deno.test("account serves gRPC and admin, keeps its data across restarts and stops cleanly on SIGTERM", async () => {
  await using database = await createTestDatabase();
  const start = async () => {
    const grpcPort = freePort();
    const adminPort = freePort();
    const program = await spawnProgram("account", {
      main: "account/main.ts",
      env: {
        DATABASE_URL: database.url,
        GRPC_PORT: String(grpcPort),
        ADMIN_PORT: String(adminPort),
        ADMIN_HOST: "127.0.0.1",
        DATABASE_POOL_MAX: "2",
      },
      adminPort,
    });
    return { program, grpcPort, adminPort };
  };

  const first = await start();
  let accountId: string;
  try {
    const client = new AccountServiceClient(`localhost:${first.grpcPort}`, credentials.createInsecure());
    try {
      const created = await callUnary(client, client.createAccount, {
        ownerId: "erin",
        currency: "GBP",
        principal: { subject: "erin", roles: ["USER"] },
      });
      accountId = created.account!.id;
      await callUnary(client, client.deposit, {
        accountId,
        amount: 99,
        idempotencyKey: "boot",
        principal: { subject: "ops", roles: ["ADMIN"] },
      });
    } finally {
      client.close();
    }
    const ready = await fetch(`http://127.0.0.1:${first.adminPort}/readyz`);
    assert.deepEqual(await ready.json(), { status: "ready", checks: { database: "ok" } });
  } finally {
    assert.equal(await first.program.stop(), 0, first.program.output());
  }
  assert.match(first.program.output(), /"msg":"migrations applied".*"applied":\[1,2\]/);
  assert.match(first.program.output(), /"msg":"stopped"/);

  const second = await start();
  try {
    const client = new AccountServiceClient(`localhost:${second.grpcPort}`, credentials.createInsecure());
    try {
      const read = await callUnary(client, client.getAccount, { id: accountId });
      assert.equal(read.account!.balance, 99);
    } finally {
      client.close();
    }
  } finally {
    assert.equal(await second.program.stop(), 0, second.program.output());
  }
  assert.match(second.program.output(), /"msg":"migrations applied".*"applied":\[\]/);
  const [row] = await database.db.sql<{ n: number }[]>`select count(*)::int8 as n from accounts.schema_migrations`;
  assert.equal(row!.n, 2);
});
