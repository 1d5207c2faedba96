/**
 * Proves that the embedded server behaves like PostgreSQL for the way the
 * programs use it: postgres.js pools without prepared statements, many
 * concurrent connections, transactions with advisory locks and CHECK
 * constraints, data kept across restarts, and a session left clean when a
 * client vanishes mid-transaction.
 */

import assert from "node:assert/strict";
import postgres from "postgres";
import { lastReadyStatus, startEmbeddedPostgres } from "./embedded_postgres.ts";

const connect = (url: string, max = 2) => postgres(url, { max, prepare: false, onnotice: false, idle_timeout: 5 });

Deno.test("startEmbeddedPostgres() keeps concurrent pools' statements, transactions and constraints apart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "securepay-pg-" });
  try {
    await using server = await startEmbeddedPostgres({ dataDir: dir, port: 0 });
    assert.equal(server.url, `postgres://postgres@127.0.0.1:${server.port}/postgres`);
    const pools = [connect(server.url), connect(server.url), connect(server.url)];
    try {
      const [a] = pools as [postgres.Sql];
      await a`create table wallet (id int primary key, balance bigint not null, constraint wallet_balance_check check (balance >= 0))`;
      await a`insert into wallet values (1, 1000)`;
      await a`create table moves (id serial primary key, n int not null)`;

      // Distinct statement texts with parameters: a multiplexer that lets
      // another connection's Parse land between a Parse and its Bind makes
      // these return the wrong column.
      const reads = Array.from(
        { length: 150 },
        (_, i) =>
          pools[i % 3]!.unsafe(`select $1::int as v, ${i} as c${i}`, [i]).then((rows) => {
            assert.deepEqual({ ...rows[0] }, { v: i, [`c${i}`]: i });
          }),
      );
      // Read-modify-write under an advisory transaction lock; every tenth rolls back.
      const writes = Array.from({ length: 30 }, (_, i) =>
        pools[i % 3]!.begin(async (tx) => {
          await tx`select pg_advisory_xact_lock(42)`;
          const [row] = await tx`select balance from wallet where id = 1`;
          await new Promise((r) => setTimeout(r, 1));
          await tx`update wallet set balance = ${Number(row!.balance) - 10} where id = 1`;
          await tx`insert into moves (n) values (${i})`;
          if (i % 10 === 0) throw new Error("roll back");
        }).then(() => true, () => false));
      await Promise.all(reads);
      const committed = (await Promise.all(writes)).filter(Boolean).length;
      assert.equal(committed, 27);
      const [row] = await a`select balance::int as balance, (select count(*)::int from moves) as moves from wallet`;
      assert.deepEqual({ ...row }, { balance: 1000 - 27 * 10, moves: 27 });

      await assert.rejects(
        pools[1]!`update wallet set balance = balance - 5000 where id = 1`,
        (e: { code?: string; constraint_name?: string }) =>
          e.code === "23514" && e.constraint_name === "wallet_balance_check",
      );
      const [uuid] = await a`select gen_random_uuid()::text as id`;
      assert.match(uuid!.id, /^[0-9a-f-]{36}$/);
    } finally {
      await Promise.all(pools.map((p) => p.end({ timeout: 2 })));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startEmbeddedPostgres() keeps data across restarts and rolls back a vanished client's transaction", async () => {
  const dir = await Deno.makeTempDir({ prefix: "securepay-pg-" });
  try {
    {
      await using server = await startEmbeddedPostgres({ dataDir: dir, port: 0 });
      const sql = connect(server.url);
      await sql`create table kept (v text)`;
      await sql`insert into kept values ('committed')`;
      // A raw client opens a transaction, writes, and disconnects without COMMIT.
      const raw = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
      const enc = new TextEncoder();
      const startup = (() => {
        const params = enc.encode("user\0postgres\0database\0postgres\0\0");
        const buf = new Uint8Array(8 + params.length);
        const view = new DataView(buf.buffer);
        view.setInt32(0, buf.length);
        view.setInt32(4, 196608);
        buf.set(params, 8);
        return buf;
      })();
      const query = (text: string) => {
        const body = enc.encode(text + "\0");
        const buf = new Uint8Array(5 + body.length);
        buf[0] = 0x51;
        new DataView(buf.buffer).setInt32(1, 4 + body.length);
        buf.set(body, 5);
        return buf;
      };
      const readUntilReady = async () => {
        const chunk = new Uint8Array(65536);
        let seen = new Uint8Array(0);
        while (lastReadyStatus(seen) === undefined) {
          const n = await raw.read(chunk);
          if (n === null) throw new Error("closed");
          const next = new Uint8Array(seen.length + n);
          next.set(seen);
          next.set(chunk.subarray(0, n), seen.length);
          seen = next;
        }
        return lastReadyStatus(seen);
      };
      await raw.write(startup);
      assert.equal(await readUntilReady(), "I");
      await raw.write(query("begin; insert into kept values ('lost')"));
      assert.equal(await readUntilReady(), "T");
      raw.close();
      // The next client must not see, or be stuck behind, the abandoned transaction.
      const rows = await sql`select v from kept order by v`;
      assert.deepEqual(rows.map((r) => r.v), ["committed"]);
      await sql.end({ timeout: 2 });
    }
    await using again = await startEmbeddedPostgres({ dataDir: dir, port: 0 });
    const sql = connect(again.url);
    try {
      const rows = await sql`select v from kept`;
      assert.deepEqual(rows.map((r) => r.v), ["committed"]);
    } finally {
      await sql.end({ timeout: 2 });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startEmbeddedPostgres() disconnects a client idle in a transaction past the bound", async () => {
  const dir = await Deno.makeTempDir({ prefix: "securepay-pg-" });
  try {
    const events: string[] = [];
    await using server = await startEmbeddedPostgres({
      dataDir: dir,
      port: 0,
      idleInTransactionMs: 300,
      onEvent: (e) => events.push(e),
    });
    const holder = connect(server.url, 1);
    const other = connect(server.url, 1);
    try {
      let lateError: unknown;
      const held = holder.begin(async (tx) => {
        await tx`select 1`;
        await new Promise((r) => setTimeout(r, 2_000));
        await tx`select 2`.catch((e) => {
          lateError = e;
        });
      }).catch((e) => e);
      await new Promise((r) => setTimeout(r, 100));
      const started = Date.now();
      const [row] = await other`select 42 as n`;
      assert.equal(row!.n, 42);
      assert.ok(Date.now() - started < 1_900, "the other client waited only for the bound");
      const outcome = await held;
      assert.ok(lateError instanceof Error || outcome instanceof Error, "the idle transaction was ended");
      assert.ok(events.some((e) => e.includes("idle in a transaction")), events.join("\n"));
    } finally {
      await Promise.all([holder.end({ timeout: 2 }), other.end({ timeout: 2 })]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startEmbeddedPostgres() names the address when the port is taken", async () => {
  const dir = await Deno.makeTempDir({ prefix: "securepay-pg-" });
  const blocker = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = (blocker.addr as Deno.NetAddr).port;
    await assert.rejects(startEmbeddedPostgres({ dataDir: dir, port }), new RegExp(`127\\.0\\.0\\.1:${port}`));
  } finally {
    blocker.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("lastReadyStatus() finds the last ReadyForQuery status, if any", () => {
  const z = (s: string) => [0x5a, 0, 0, 0, 5, s.charCodeAt(0)];
  const complete = [0x43, 0, 0, 0, 5, 0];
  assert.equal(lastReadyStatus(new Uint8Array([...complete])), undefined);
  assert.equal(lastReadyStatus(new Uint8Array([...z("T"), ...complete, ...z("I")])), "I");
  assert.equal(lastReadyStatus(new Uint8Array([...z("I"), ...z("E")])), "E");
});
