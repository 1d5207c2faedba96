import assert from "node:assert/strict";
import { createTestDatabase } from "./testing/postgres.ts";
import { migrate, type Migration } from "./migrate.ts";

const migrations: Migration[] = [
  { version: 1, name: "init", sql: "create table items (id int primary key)" },
  { version: 2, name: "more", sql: "alter table items add column name text" },
];

Deno.test("migrate() applies each file once, even when replicas start together", async () => {
  // Five concurrent runners on one real database: the advisory lock must serialise them.
  await using test = await createTestDatabase();
  const results = await Promise.all(Array.from({ length: 5 }, () => migrate(test.db.sql, "demo", migrations)));
  assert.deepEqual(results.map((r) => r.applied.length).sort(), [0, 0, 0, 0, 2]);
  const rows = await test.db.sql`select version from demo.schema_migrations order by version`;
  assert.deepEqual(rows.map((r) => r.version), [1, 2]);
  await test.db.sql`insert into demo.items (id, name) values (1, 'a')`;
  const again = await migrate(test.db.sql, "demo", migrations);
  assert.deepEqual(again.applied, []);
});

Deno.test("migrate() refuses a migration that changed after it was applied", async () => {
  await using test = await createTestDatabase();
  await migrate(test.db.sql, "demo", migrations);
  const edited = [migrations[0]!, { ...migrations[1]!, sql: "alter table items add column other text" }];
  await assert.rejects(migrate(test.db.sql, "demo", edited), /changed after it was applied/);
});

Deno.test("migrate() rolls back a failing migration completely", async () => {
  await using test = await createTestDatabase();
  const broken = [...migrations, { version: 3, name: "broken", sql: "alter table nope add column x int" }];
  await assert.rejects(migrate(test.db.sql, "demo", broken));
  const [row] = await test.db.sql`select count(*)::int as n from information_schema.tables where table_schema = 'demo'`;
  assert.equal(row!.n, 0);
});

Deno.test("migrate() refuses a database newer than the program", async () => {
  await using test = await createTestDatabase();
  await migrate(test.db.sql, "demo", migrations);
  await assert.rejects(migrate(test.db.sql, "demo", migrations.slice(0, 1)), /newer than this program/);
});
