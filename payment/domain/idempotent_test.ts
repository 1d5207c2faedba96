import assert from "node:assert/strict";
import { AppError, MetricsRegistry, silentLogger } from "@securepay/shared";
import { type IdempotencyStore, memoryIdempotencyStore } from "@securepay/shared/idempotency";
import { InitiatePaymentResponse } from "@securepay/shared/gen/payment";
import { idempotentRunner } from "./idempotent.ts";

const claim = { scope: "alice", key: "k", fingerprint: "payment:abc" };
const response = (id: string): InitiatePaymentResponse => ({
  payment: {
    id,
    fromAccount: "f",
    toAccount: "t",
    amount: 10,
    currency: "EUR",
    description: "",
    status: 1,
    failureReason: "",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
    createdAt: "2025-01-01T00:00:00.000Z",
    updatedAt: "2025-01-01T00:00:00.000Z",
    refundStatus: "",
  },
  replayed: false,
});

Deno.test("run() runs once and replays the stored response, refusing in-flight and different requests", async () => {
  await using store = memoryIdempotencyStore();
  const runner = idempotentRunner(store, { logger: silentLogger });
  let runs = 0;
  const work = () => Promise.resolve(response(`p${++runs}`));
  const first = await runner.run(claim, InitiatePaymentResponse, work);
  const again = await runner.run(claim, InitiatePaymentResponse, work);
  assert.equal(runs, 1);
  assert.deepEqual(again, { response: first.response, replayed: true });
  await assert.rejects(
    runner.run({ ...claim, fingerprint: "payment:other" }, InitiatePaymentResponse, work),
    (e) => e instanceof AppError && e.code === "idempotency_key_reused",
  );
  let release = () => {};
  const held = runner.run({ ...claim, key: "slow" }, InitiatePaymentResponse, async () => {
    await new Promise<void>((resolve) => release = resolve);
    return response("slow");
  });
  await assert.rejects(
    runner.run({ ...claim, key: "slow" }, InitiatePaymentResponse, work),
    (e) => e instanceof AppError && e.code === "idempotency_key_in_use",
  );
  release();
  assert.equal((await held).response.payment!.id, "slow");
});

Deno.test("run() releases the key when the work fails, so a retry runs again", async () => {
  await using store = memoryIdempotencyStore();
  const runner = idempotentRunner(store, { logger: silentLogger });
  await assert.rejects(
    runner.run(claim, InitiatePaymentResponse, () => Promise.reject(new AppError("insufficient_funds", "x"))),
  );
  assert.equal(
    (await runner.run(claim, InitiatePaymentResponse, () => Promise.resolve(response("p")))).replayed,
    false,
  );
});

Deno.test("run() still runs the work when the store fails, leaving the database to guard the key", async () => {
  const broken: IdempotencyStore = {
    begin: () => Promise.reject(new Error("redis down")),
    complete: () => Promise.reject(new Error("redis down")),
    abandon: () => Promise.reject(new Error("redis down")),
    ping: () => Promise.reject(new Error("redis down")),
    close: () => Promise.resolve(),
    [Symbol.asyncDispose]: () => Promise.resolve(),
  };
  const metrics = new MetricsRegistry();
  const runner = idempotentRunner(broken, { logger: silentLogger, metrics });
  const result = await runner.run(claim, InitiatePaymentResponse, () => Promise.resolve(response("p")));
  assert.deepEqual(result, { response: response("p"), replayed: false });
  assert.match(metrics.render(), /payment_idempotency_total\{result="store_error"\} 1/);
});
