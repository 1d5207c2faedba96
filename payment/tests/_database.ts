/** A fresh, migrated database for tests of the payment schema. */

import { migrate, readMigrations } from "@securepay/shared";
import { createTestDatabase, type TestDatabase } from "@securepay/shared/testing";
import { PAYMENT_SCHEMA } from "../mod.ts";

export async function createPaymentDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase();
  try {
    await migrate(database.db.sql, PAYMENT_SCHEMA, await readMigrations(new URL("../migrations/", import.meta.url)));
  } catch (error) {
    await database[Symbol.asyncDispose]();
    throw error;
  }
  return database;
}
