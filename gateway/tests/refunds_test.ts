/**
 * Idempotent replays and refunds through the public API, against the real
 * account and payment programs with payment's Idempotency-Keys in the real
 * Redis (a random key prefix per test): a replay's body is the original
 * response byte for byte, and a payment is refunded once, only by staff.
 */

import assert from "node:assert/strict";
import { Redis } from "ioredis";
import type { Answer } from "./_harness.ts";
import { type Services, startServices } from "./_services.ts";

const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";

function ok(answer: Answer, status: number) {
  assert.equal(answer.status, status, answer.text);
  return answer.body;
}

function assertProblem(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.headers.get("content-type"), "application/problem+json");
  assert.equal(answer.body.code, code, answer.text);
}

async function withServices(): Promise<Services> {
  const prefix = `securepay-test:${crypto.randomUUID()}:`;
  const services = await startServices({ paymentEnv: { REDIS_URL, IDEMPOTENCY_KEY_PREFIX: prefix } });
  return {
    ...services,
    [Symbol.asyncDispose]: async () => {
      await services[Symbol.asyncDispose]();
      const redis = new Redis(REDIS_URL);
      try {
        const keys = await redis.keys(`${prefix}*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}

async function paid(s: Services): Promise<{ id: string; alice: string }> {
  const alice = await s.token("alice");
  const admin = await s.token("treasurer", "ADMIN");
  const from = ok(await s.call("POST", "/v1/accounts", { token: alice, json: { currency: "EUR" } }), 201);
  const to = ok(await s.call("POST", "/v1/accounts", { token: await s.token("bob"), json: { currency: "EUR" } }), 201);
  ok(
    await s.call("POST", `/v1/accounts/${from.id}/deposits`, {
      token: admin,
      json: { amount: 5_000 },
      idempotencyKey: crypto.randomUUID(),
    }),
    201,
  );
  const json = { from_account: from.id, to_account: to.id, amount: 1_200, currency: "EUR" };
  const payment = ok(await s.call("POST", "/v1/payments", { token: alice, json, idempotencyKey: "pay" }), 202);
  return { id: payment.id, alice };
}

Deno.test("POST /v1/payments replays the first body byte for byte with Idempotent-Replayed, even after it moved on", async () => {
  await using s = await withServices();
  const alice = await s.token("alice");
  const from = ok(await s.call("POST", "/v1/accounts", { token: alice, json: { currency: "EUR" } }), 201);
  const to = ok(await s.call("POST", "/v1/accounts", { token: await s.token("bob"), json: { currency: "EUR" } }), 201);
  ok(
    await s.call("POST", `/v1/accounts/${from.id}/deposits`, {
      token: await s.token("treasurer", "ADMIN"),
      json: { amount: 5_000 },
      idempotencyKey: "fund",
    }),
    201,
  );
  const json = { from_account: from.id, to_account: to.id, amount: 1_200, currency: "EUR", description: "ünïcode" };
  const first = await s.call("POST", "/v1/payments", { token: alice, json, idempotencyKey: "once" });
  assert.equal(first.status, 202, first.text);
  await s.database.db.sql`update payments.transactions set status = 'COMPLETED'`;

  const replay = await s.call("POST", "/v1/payments", { token: alice, json, idempotencyKey: "once" });
  assert.equal(replay.status, 202);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.equal(replay.text, first.text);
  assert.equal(replay.body.status, "PENDING", "the stored response, not today's state");
  assertProblem(
    await s.call("POST", "/v1/payments", { token: alice, json: { ...json, amount: 1 }, idempotencyKey: "once" }),
    422,
    "idempotency_key_reused",
  );
  assert.equal((await s.counts()).payments, 1);
});

Deno.test("POST /v1/payments/{id}/refunds: staff only, a COMPLETED payment only, once, replayed byte for byte", async () => {
  await using s = await withServices();
  const { id, alice } = await paid(s);
  const support = await s.token("sam", "SUPPORT");
  const path = `/v1/payments/${id}/refunds`;

  // Staff who paid or were paid cannot refund their own payment either.
  const staffPayer = await s.token("alice", "USER", "SUPPORT");
  const staffPayee = await s.token("bob", "ADMIN");
  for (const token of [alice, await s.token("bob"), await s.token("audrey", "AUDITOR"), staffPayer, staffPayee]) {
    assertProblem(await s.call("POST", path, { token, idempotencyKey: "r" }), 403, "forbidden");
  }
  assertProblem(await s.call("POST", path, { token: support }), 400, "idempotency_key_missing");
  assertProblem(
    await s.call("POST", "/v1/payments/nope/refunds", { token: support, idempotencyKey: "r" }),
    400,
    "validation_error",
  );
  assertProblem(
    await s.call("POST", `/v1/payments/${crypto.randomUUID()}/refunds`, { token: support, idempotencyKey: "r" }),
    404,
    "not_found",
  );
  assertProblem(await s.call("POST", path, { token: support, idempotencyKey: "r" }), 422, "payment_not_refundable");

  await s.database.db.sql`update payments.transactions set status = 'COMPLETED' where id = ${id}`;
  const first = await s.call("POST", path, { token: support, idempotencyKey: "r" });
  assert.equal(ok(first, 202).status, "COMPLETED", "REFUNDED only once account has moved the money back");
  assert.equal(first.body.id, id);
  assert.equal(first.headers.get("idempotent-replayed"), null);

  const replay = await s.call("POST", path, { token: support, idempotencyKey: "r" });
  assert.equal(replay.status, 202);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.equal(replay.text, first.text);
  const admin = await s.token("root", "ADMIN");
  assertProblem(await s.call("POST", path, { token: admin, idempotencyKey: "other" }), 422, "payment_not_refundable");
  assertProblem(await s.call("POST", path, { token: support, idempotencyKey: "r2" }), 422, "payment_not_refundable");
  const [row] = await s.database.db.sql`
    select (select count(*)::int from payments.refunds) as refunds,
           (select count(*)::int from payments.outbox where topic = 'payment.refund.initiated') as events`;
  assert.deepEqual({ ...row }, { refunds: 1, events: 1 });
});
