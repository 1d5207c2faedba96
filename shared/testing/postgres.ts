/**
 * A fresh PostgreSQL database per test run, so runs never interfere.
 *
 * The server comes from TEST_DATABASE_URL (default: the local server's
 * `test` database); a new database named `securepay_test_<random>` is
 * created on it and dropped when the handle is disposed.
 */

import postgres from "postgres";
import { connectPostgres, type Postgres } from "../db.ts";

export const TEST_SERVER_URL_DEFAULT = "postgres://postgres@127.0.0.1:5432/test";

export interface TestDatabase extends AsyncDisposable {
  /** URL of the fresh database. */
  readonly url: string;
  readonly name: string;
  /** A pool on the fresh database, closed with the handle. */
  readonly db: Postgres;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = Deno.env.get("TEST_DATABASE_URL") ?? TEST_SERVER_URL_DEFAULT;
  const name = `securepay_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
  const admin = postgres(serverUrl, { max: 1, onnotice: false, idle_timeout: 1 });
  try {
    await admin.unsafe(`create database ${name}`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  const db = connectPostgres(url.toString(), { maxConnections: 10, applicationName: "securepay-test" });
  const dispose = async () => {
    await db.close();
    const cleanup = postgres(serverUrl, { max: 1, onnotice: false, idle_timeout: 1 });
    try {
      await cleanup.unsafe(`drop database if exists ${name} with (force)`);
    } finally {
      await cleanup.end({ timeout: 5 });
    }
  };
  return { url: url.toString(), name, db, [Symbol.asyncDispose]: dispose };
}
