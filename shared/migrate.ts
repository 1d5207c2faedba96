/**
 * Versioned SQL migrations, one folder per service schema.
 *
 * Files are named `NNNN_description.sql` and applied in order, each in the
 * same transaction as its row in `<schema>.schema_migrations`. The whole run
 * holds a transaction-scoped advisory lock keyed by the schema, so replicas
 * starting together apply each file exactly once. A file that changed after
 * it was applied stops the start: history is never rewritten silently.
 */

import type { Sql } from "./db.ts";

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export interface MigrationResult {
  readonly applied: readonly number[];
  readonly current: number;
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.sql$/;
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Reads the migration files of `dir` (a file: URL or path). */
export async function readMigrations(dir: string | URL): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.isFile) continue;
    const match = FILE_NAME.exec(entry.name);
    if (!match) {
      throw new TypeError(`Cannot read migrations as a file name is not NNNN_name.sql: ${entry.name}`);
    }
    const base = typeof dir === "string" ? `${dir.replace(/\/$/, "")}/` : new URL(`${dir.href.replace(/\/$/, "")}/`);
    const path = typeof base === "string" ? `${base}${entry.name}` : new URL(entry.name, base);
    migrations.push({ version: Number(match[1]), name: match[2]!, sql: await Deno.readTextFile(path) });
  }
  migrations.sort((a, b) => a.version - b.version);
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) {
      throw new TypeError(`Cannot read migrations as versions must run 1, 2, 3… without gaps: found ${m.version}`);
    }
  });
  return migrations;
}

async function checksum(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Applies the pending migrations of `schema` under an advisory lock. */
export async function migrate(sql: Sql, schema: string, migrations: readonly Migration[]): Promise<MigrationResult> {
  if (!SCHEMA_NAME.test(schema)) throw new TypeError(`Cannot migrate as the schema name is invalid: ${schema}`);
  const sums = await Promise.all(migrations.map((m) => checksum(m.sql)));
  return await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(hashtextextended(${"securepay.migrate." + schema}, 0))`;
    await tx.unsafe(`create schema if not exists ${schema}`);
    await tx.unsafe(`create table if not exists ${schema}.schema_migrations (
      version integer primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now())`);
    const rows = await tx.unsafe<{ version: number; checksum: string }[]>(
      `select version, checksum from ${schema}.schema_migrations order by version`,
    );
    const done = new Map(rows.map((r) => [Number(r.version), r.checksum]));
    const applied: number[] = [];
    for (const [i, m] of migrations.entries()) {
      const previous = done.get(m.version);
      if (previous !== undefined) {
        if (previous !== sums[i]) {
          throw new Error(
            `Cannot migrate ${schema} as migration ${m.version}_${m.name} changed after it was applied`,
          );
        }
        continue;
      }
      await tx.unsafe(`set local search_path to ${schema}, public`);
      await tx.unsafe(m.sql);
      await tx.unsafe(
        `insert into ${schema}.schema_migrations (version, name, checksum) values ($1, $2, $3)`,
        [m.version, m.name, sums[i]!],
      );
      applied.push(m.version);
    }
    const known = Math.max(0, ...done.keys());
    if (known > migrations.length) {
      throw new Error(
        `Cannot migrate ${schema} as the database is at version ${known}, newer than this program's ${migrations.length}`,
      );
    }
    return { applied, current: migrations.length };
  });
}
