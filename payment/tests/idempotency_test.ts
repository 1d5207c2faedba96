/**
 * Idempotency-Keys over gRPC with the Redis store (a random key prefix per
 * test) in front of the database: replays are the original response byte
 * for byte, a running key answers 409, a reused key 422, and when Redis
 * loses a key the database still allows only one payment for it.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type IdempotencyStore, redisIdempotencyStore } from "@securepay/shared/idempotency";
import { InitiatePaymentResponse, RefundPaymentResponse } from "@securepay/shared/gen/payment";
import { createPaymentService } from "../domain/service.ts";
import { postgresPaymentStore } from "../store/postgres_payment_store.ts";
import { failsWith, startStack } from "./_stack.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";

function withRedis(): { store: IdempotencyStore; prefix: string } & AsyncDisposable {
  const prefix = `securepay-test:${crypto.randomUUID()}:`;
  const store = redisIdempotencyStore({ url: REDIS_URL, keyPrefix: prefix });
  return {
    store,
    prefix,
    [Symbol.asyncDispose]: async () => {
      await forgetAll(prefix);
      await store.close();
    },
  };
}

/** Deletes every key under `prefix`, as a Redis that lost its data would. */
async function forgetAll(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`${prefix}*`);
    return keys.length === 0 ? 0 : await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}

Deno.test("InitiatePayment replays the original response byte for byte, even after the payment moved on", async () => {
  await using redis = withRedis();
  await using stack = await startStack({ idempotencyStore: redis.store });
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const request = { idempotencyKey: "same", fromAccount: from.id, toAccount: to.id, amount: 700, description: "x" };
  const first = await stack.initiate(request);
  assert.equal(first.replayed, false);
  await stack.database.db.sql`update payments.transactions set status = 'COMPLETED'`;

  const again = await stack.initiate(request);
  assert.equal(again.replayed, true);
  // Apart from the flag, the very bytes first answered: still PENDING, same timestamps.
  assert.deepEqual(
    InitiatePaymentResponse.encode({ ...again, replayed: false }).finish(),
    InitiatePaymentResponse.encode(first).finish(),
  );
  assert.deepEqual(await stack.counts(), { transactions: 1, outbox: 1 });
});

Deno.test("InitiatePayment answers idempotency_key_in_use while the key is held, and runs once it is released", async () => {
  await using redis = withRedis();
  await using stack = await startStack({ idempotencyStore: redis.store });
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const input = {
    principal: "alice",
    idempotencyKey: "held",
    fromAccount: from.id,
    toAccount: to.id,
    amountMinor: 100,
    currency: "EUR",
    description: "",
  };
  // Hold the key as a running first request would, with the very claim the service computes.
  const claim = await createPaymentService({
    store: postgresPaymentStore(stack.database.db.sql),
    accounts: { getAccount: () => Promise.reject(), checkFunds: () => Promise.reject() },
  }).initiatePaymentClaim(input);
  const held = await redis.store.begin(claim.scope, claim.key, claim.fingerprint);
  if (held.kind !== "new") throw new Error(`expected to hold the key, got ${held.kind}`);

  const request = { idempotencyKey: "held", fromAccount: from.id, toAccount: to.id, amount: 100 };
  const refused = await failsWith(stack.initiate(request), "idempotency_key_in_use");
  assert.equal((refused.cause as { code: number }).code, 10, "ABORTED");
  assert.deepEqual(await stack.counts(), { transactions: 0, outbox: 0 });
  await redis.store.abandon(claim.scope, claim.key, held.token);
  assert.equal((await stack.initiate(request)).replayed, false);
  assert.deepEqual(await stack.counts(), { transactions: 1, outbox: 1 });
});

Deno.test("InitiatePayment answers idempotency_key_reused for another request under a used key", async () => {
  await using redis = withRedis();
  await using stack = await startStack({ idempotencyStore: redis.store });
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  await stack.initiate({ idempotencyKey: "k", fromAccount: from.id, toAccount: to.id, amount: 100 });
  await failsWith(
    stack.initiate({ idempotencyKey: "k", fromAccount: from.id, toAccount: to.id, amount: 101 }),
    "idempotency_key_reused",
  );
  // The same key is free for another principal.
  const bob = await stack.openAccount("bob", "EUR", 500);
  await stack.initiate({
    principal: { subject: "bob", roles: [] },
    idempotencyKey: "k",
    fromAccount: bob.id,
    toAccount: from.id,
    amount: 1,
  });
  assert.deepEqual(await stack.counts(), { transactions: 2, outbox: 2 });
});

Deno.test("a request refused by validation leaves its key unused", async () => {
  await using redis = withRedis();
  await using stack = await startStack({ idempotencyStore: redis.store });
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  await failsWith(
    stack.initiate({ idempotencyKey: "v", fromAccount: from.id, toAccount: to.id, amount: 0 }),
    "validation_error",
  );
  assert.equal(await forgetAll(redis.prefix), 0, "nothing stored in Redis");
  const accepted = await stack.initiate({ idempotencyKey: "v", fromAccount: from.id, toAccount: to.id, amount: 5 });
  assert.equal(accepted.replayed, false);
});

Deno.test("when Redis loses a key, the database still allows one payment per (principal, key)", async () => {
  await using redis = withRedis();
  await using stack = await startStack({ idempotencyStore: redis.store });
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const request = { idempotencyKey: "lost", fromAccount: from.id, toAccount: to.id, amount: 300 };
  const first = await stack.initiate(request);
  assert.ok(await forgetAll(redis.prefix) > 0);

  const again = await stack.initiate(request);
  assert.equal(again.replayed, true);
  assert.equal(again.payment!.id, first.payment!.id);
  assert.ok(await forgetAll(redis.prefix) > 0, "the replay was stored again");
  await failsWith(stack.initiate({ ...request, amount: 301 }), "idempotency_key_reused");
  assert.deepEqual(await stack.counts(), { transactions: 1, outbox: 1 });
});

Deno.test("RefundPayment: only a COMPLETED payment, only once, replayed byte for byte, only by ADMIN or SUPPORT", async () => {
  await using redis = withRedis();
  await using stack = await startStack({ idempotencyStore: redis.store });
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const paid = (await stack.initiate({ fromAccount: from.id, toAccount: to.id, amount: 400 })).payment!;
  const sql = stack.database.db.sql;
  const refundEvents = async () =>
    (await sql`select count(*)::int as n from payments.outbox where topic = 'payment.refund.initiated'`)[0]!.n;

  const pending = await failsWith(stack.refund({ paymentId: paid.id }), "payment_not_refundable");
  assert.match(pending.message, /PENDING/);
  await failsWith(stack.refund({ paymentId: crypto.randomUUID() }), "not_found");
  await failsWith(stack.refund({ paymentId: "nope" }), "validation_error");
  await failsWith(stack.refund({ paymentId: paid.id, principal: { subject: "alice", roles: ["USER"] } }), "forbidden");
  // Not even staff may refund a payment they made or received.
  await failsWith(
    stack.refund({ paymentId: paid.id, principal: { subject: "alice", roles: ["SUPPORT"] } }),
    "forbidden",
  );
  await failsWith(stack.refund({ paymentId: paid.id, principal: { subject: "bob", roles: ["ADMIN"] } }), "forbidden");
  await sql`update payments.transactions set status = 'COMPLETED' where id = ${paid.id}`;

  const first = await stack.refund({ paymentId: paid.id, idempotencyKey: "r1" });
  assert.equal(first.replayed, false);
  assert.equal(first.payment!.status, 2, "still COMPLETED until account reports the refund");
  assert.equal(first.payment!.refundStatus, "PENDING");
  const again = await stack.refund({ paymentId: paid.id, idempotencyKey: "r1" });
  assert.equal(again.replayed, true);
  assert.deepEqual(
    RefundPaymentResponse.encode({ ...again, replayed: false }).finish(),
    RefundPaymentResponse.encode(first).finish(),
  );
  const twice = await failsWith(stack.refund({ paymentId: paid.id, idempotencyKey: "r2" }), "payment_not_refundable");
  assert.match(twice.message, /already/);
  // A key of a refund cannot serve a payment, nor the other way round.
  await failsWith(
    stack.initiate({
      principal: { subject: "support-1", roles: [] },
      idempotencyKey: "r1",
      fromAccount: from.id,
      toAccount: to.id,
      amount: 1,
    }),
    "idempotency_key_reused",
  );
  assert.equal(await refundEvents(), 1);

  // Redis forgot everything: the database still refuses a second refund, and replays the first.
  await forgetAll(redis.prefix);
  await failsWith(stack.refund({ paymentId: paid.id, idempotencyKey: "r3" }), "payment_not_refundable");
  assert.equal((await stack.refund({ paymentId: paid.id, idempotencyKey: "r1" })).replayed, true);
  assert.equal(await refundEvents(), 1);
});

Deno.test("RefundPayment sent 10 times at once with different keys moves money once", async () => {
  await using stack = await startStack();
  const from = await stack.openAccount("alice", "EUR", 10_000);
  const to = await stack.openAccount("bob", "EUR");
  const paid = (await stack.initiate({ fromAccount: from.id, toAccount: to.id, amount: 400 })).payment!;
  const sql = stack.database.db.sql;
  await sql`update payments.transactions set status = 'COMPLETED' where id = ${paid.id}`;
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => stack.refund({ paymentId: paid.id })));
  assert.equal(results.filter((r) => r.status === "fulfilled").length, 1);
  const [row] = await sql`
    select (select count(*)::int from payments.outbox where topic = 'payment.refund.initiated') as events,
           (select count(*)::int from payments.refunds) as refunds`;
  assert.deepEqual({ ...row }, { events: 1, refunds: 1 });
});
