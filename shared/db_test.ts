import assert from "node:assert/strict";
import { connectPostgres } from "./db.ts";
import { createTestDatabase } from "./testing/postgres.ts";

Deno.test("connectPostgres() bounds statements, lock waits and idle transactions on the server", async () => {
  await using test = await createTestDatabase();
  await using db = connectPostgres(test.url, { statementTimeoutMs: 200, lockTimeoutMs: 150 });
  const [settings] = await db.sql<{ s: string; l: string; i: string }[]>`
    select current_setting('statement_timeout') as s, current_setting('lock_timeout') as l,
           current_setting('idle_in_transaction_session_timeout') as i`;
  assert.deepEqual({ ...settings }, { s: "200ms", l: "150ms", i: "1min" });
  await assert.rejects(db.sql`select pg_sleep(2)`, (e: { code?: string }) => e.code === "57014");
});

Deno.test("connectPostgres() reads int8 as exact numbers and refuses ones that would round", async () => {
  await using test = await createTestDatabase();
  const [row] = await test.db.sql<{ n: number }[]>`select 9007199254740991::int8 as n`;
  assert.equal(row!.n, Number.MAX_SAFE_INTEGER);
  await assert.rejects(test.db.sql`select 9007199254740993::int8 as n`, RangeError);
});
