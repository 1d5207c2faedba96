/**
 * The account program as an operator runs it: main.ts in a child process
 * with environment variables, probed over its admin port and gRPC, stopped
 * with SIGTERM. Two starts on one database prove migrations are idempotent;
 * with Kafka, a kill -9 in the middle of a stream of payments proves the
 * restart applies the rest without applying anything twice.
 */

import assert from "node:assert/strict";
import { credentials } from "@grpc/grpc-js";
import { Redis } from "ioredis";
import { callUnary, encodeEvent, eventHeaders, silentLogger, TOPICS } from "@securepay/shared";
import { AccountServiceClient } from "@securepay/shared/gen/account";
import { connectKafka } from "@securepay/shared/kafka";
import { createTestDatabase, freePort, spawnProgram, startTestBroker, waitFor } from "@securepay/shared/testing";
import { main } from "../main.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";

Deno.test("main() exits 2 with a readable message on bad configuration", async () => {
  assert.equal(await main({ GRPC_PORT: "not-a-port" }), 2);
});

Deno.test("main() exits 1 when the database cannot be reached", async () => {
  const port = freePort();
  const code = await main({
    DATABASE_URL: `postgres://nobody@127.0.0.1:${port}/none`,
    GRPC_INSECURE_LOOPBACK: "true",
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

Deno.test("account with KAFKA_BROKERS and REDIS_URL applies payments, survives kill -9 mid-stream, and stops on SIGTERM", async () => {
  await using database = await createTestDatabase();
  await using broker = await startTestBroker({ defaultPartitions: 2 });
  const keyPrefix = `securepay-test:${crypto.randomUUID()}:`;
  const start = async () => {
    const adminPort = freePort();
    const grpcPort = freePort();
    const program = await spawnProgram("account", {
      main: "account/main.ts",
      env: {
        DATABASE_URL: database.url,
        GRPC_PORT: String(grpcPort),
        ADMIN_PORT: String(adminPort),
        ADMIN_HOST: "127.0.0.1",
        KAFKA_BROKERS: broker.brokers.join(","),
        REDIS_URL: REDIS_URL,
        REDIS_KEY_PREFIX: keyPrefix,
        OUTBOX_POLL_MS: "50",
        KAFKA_BATCH_MAX: "20",
        // The killed member's partitions move on after this, rather than Kafka's default 30 s.
        KAFKA_SESSION_TIMEOUT_MS: "6000",
      },
      adminPort,
      readyTimeoutMs: 30_000,
    });
    return { program, grpcPort, adminPort };
  };
  const kafka = connectKafka({ brokers: broker.brokers, clientId: "account-main-test", logger: silentLogger });
  await using producer = await kafka.producer();
  const sql = database.db.sql;

  const first = await start();
  let accounts: string[] = [];
  let crashed = false;
  try {
    const ready = await (await fetch(`http://127.0.0.1:${first.adminPort}/readyz`)).json();
    assert.deepEqual(ready.checks, { database: "ok", "outbox-relay": "ok", "payment-consumer": "ok" });
    const client = new AccountServiceClient(`localhost:${first.grpcPort}`, credentials.createInsecure());
    try {
      for (const owner of ["erin", "frank", "gina"]) {
        const { account } = await callUnary(client, client.createAccount, {
          ownerId: owner,
          currency: "EUR",
          principal: { subject: owner, roles: ["USER"] },
        });
        await callUnary(client, client.deposit, {
          accountId: account!.id,
          amount: 10_000,
          idempotencyKey: `fund-${owner}`,
          principal: { subject: "ops", roles: ["ADMIN"] },
        });
        accounts.push(account!.id);
      }
    } finally {
      client.close();
    }
    // 400 payments in flight; the program is killed once some, but not all, are applied.
    const records = Array.from({ length: 400 }, (_, i) => {
      const from = accounts[i % 3]!;
      const to = accounts[(i + 1) % 3]!;
      const time = new Date().toISOString();
      const value = encodeEvent(TOPICS.paymentInitiated, {
        paymentId: crypto.randomUUID(),
        fromAccount: from,
        toAccount: to,
        amount: 1 + (i % 50),
        currency: "EUR",
        principal: "test",
        initiatedAt: time,
        payerOwnerId: "x",
        payeeOwnerId: "y",
      });
      const id = crypto.randomUUID();
      const headers = eventHeaders({ id, type: TOPICS.paymentInitiated, source: "/test", time });
      return { topic: TOPICS.paymentInitiated, key: from, value, headers: { ...headers } };
    });
    for (let i = 0; i < records.length; i += 50) await producer.send(records.slice(i, i + 50));
    await waitFor("some payments applied", async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int8 as n from accounts.inbox`;
      return row!.n > 0;
    }, { intervalMs: 5 });
    first.program.child.kill("SIGKILL");
    await first.program.stop();
    crashed = true;
  } finally {
    if (!crashed) await first.program.stop();
  }
  const [before] = await sql<{ n: number }[]>`select count(*)::int8 as n from accounts.inbox`;

  const second = await start();
  try {
    await waitFor("every payment applied after the restart", async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int8 as n from accounts.inbox`;
      return row!.n === 400;
    }, { timeoutMs: 30_000 });
    await waitFor("every outcome published", async () => {
      const [row] = await sql<{ n: number }[]>`select count(*)::int8 as n from accounts.outbox where sent_at is null`;
      return row!.n === 0;
    });
  } finally {
    assert.equal(await second.program.stop(), 0, second.program.output());
  }
  assert.ok(before!.n < 400, `the kill came before the end (${before!.n} applied)`);
  assert.match(second.program.output(), /"msg":"stopped"/);
  const [totals] = await sql<{ balances: number; outbox: number; pairs: number; entries: number }[]>`
    select (select sum(balance)::int8 from accounts.balances) as balances,
           (select count(*)::int8 from accounts.outbox) as outbox,
           (select count(distinct payment_id)::int8 from accounts.ledger_entries where payment_id is not null) as pairs,
           (select count(*)::int8 from accounts.ledger_entries where payment_id is not null) as entries`;
  assert.equal(totals!.balances, 30_000, "money is conserved");
  assert.equal(totals!.outbox, 400, "one outcome per payment");
  assert.equal(totals!.entries, totals!.pairs * 2, "two entries per applied payment");
  accounts = [];
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${keyPrefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
});
