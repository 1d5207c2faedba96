import assert from "node:assert/strict";
import { encodeEvent, eventHeaders, MetricsRegistry, silentLogger, TOPICS } from "@securepay/shared";
import type { ConsumedRecord } from "@securepay/shared/kafka";
import { createTestDatabase } from "@securepay/shared/testing";
import type { AccountVersion } from "../cache/balance_cache.ts";
import { migrateAccounts } from "../mod.ts";
import { applyPaymentsHandler } from "./apply_consumer.ts";

function paymentRecord(from: string, to: string, amount: number): ConsumedRecord {
  const time = new Date().toISOString();
  const value = encodeEvent(TOPICS.paymentInitiated, {
    paymentId: crypto.randomUUID(),
    fromAccount: from,
    toAccount: to,
    amount,
    currency: "EUR",
    principal: "alice",
    initiatedAt: time,
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
  });
  const headers = eventHeaders({
    id: crypto.randomUUID(),
    type: TOPICS.paymentInitiated,
    source: "/securepay/payment-service",
    time,
  });
  return {
    topic: TOPICS.paymentInitiated,
    partition: 0,
    offset: "0",
    key: from,
    value,
    headers: { ...headers },
    timestampMs: 0,
  };
}

Deno.test("a redelivered payment invalidates its accounts again, so a crash between commit and invalidation leaves no stale balance", async () => {
  // The first delivery commits but its invalidation is lost (the process
  // died); the redelivery must invalidate both accounts at their versions.
  await using db = await createTestDatabase();
  await migrateAccounts(db.db.sql);
  const [payer] = await db.db.sql<{ id: string }[]>`
    insert into accounts.balances (owner_id, currency, balance) values ('alice', 'EUR', 10000) returning id`;
  const [payee] = await db.db.sql<{ id: string }[]>`
    insert into accounts.balances (owner_id, currency, balance) values ('bob', 'EUR', 0) returning id`;
  const record = paymentRecord(payer!.id, payee!.id, 2_500);

  const lost: AccountVersion[][] = [];
  const crashed = applyPaymentsHandler({
    sql: db.db.sql,
    logger: silentLogger,
    metrics: new MetricsRegistry(),
    invalidate: (accounts) => {
      lost.push([...accounts]);
      return Promise.resolve();
    },
  });
  await crashed([record]);
  assert.equal(lost.length, 1);

  const invalidated: AccountVersion[] = [];
  const restarted = applyPaymentsHandler({
    sql: db.db.sql,
    logger: silentLogger,
    metrics: new MetricsRegistry(),
    invalidate: (accounts) => {
      invalidated.push(...accounts);
      return Promise.resolve();
    },
  });
  await restarted([record]);
  const byId = new Map(invalidated.map((a) => [a.id, a.version]));
  assert.deepEqual(byId, new Map([[payer!.id, 1], [payee!.id, 1]]));
  const [balances] = await db.db.sql<{ total: number }[]>`select sum(balance)::bigint as total from accounts.balances`;
  assert.equal(balances!.total, 10_000, "the redelivery moved nothing");
});
