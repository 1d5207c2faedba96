import assert from "node:assert/strict";
import { encodeEvent, eventHeaders, type Topic } from "@securepay/shared";
import { type OutcomeRecord, parseOutcome } from "./outcomes.ts";

const paymentId = "0b7e7f7a-7a0e-4c58-8a9a-6b8f4f3e2d10";
const event = {
  paymentId,
  fromAccount: crypto.randomUUID(),
  toAccount: crypto.randomUUID(),
  amount: 5,
  currency: "EUR",
  reason: "insufficient_funds",
  failedAt: "2025-01-01T00:00:00Z",
  payerOwnerId: "a",
  payeeOwnerId: "b",
};

function record(topic: Topic, overrides: Partial<OutcomeRecord> = {}): OutcomeRecord {
  const id = crypto.randomUUID();
  return {
    topic,
    value: encodeEvent("payment.failed", event),
    headers: { ...eventHeaders({ id, type: topic, source: "/securepay/account-service", time: event.failedAt }) },
    ...overrides,
  };
}

Deno.test("parseOutcome() reads the event id, payment and a bounded reason from a valid record", () => {
  const r = record("payment.failed");
  assert.deepEqual(parseOutcome(r), {
    eventId: r.headers.ce_id,
    topic: "payment.failed",
    paymentId,
    reason: "insufficient_funds",
  });
  const long = record("payment.failed", {
    value: encodeEvent("payment.failed", { ...event, reason: "é".repeat(300) }),
  });
  assert.equal(parseOutcome(long).reason, "é".repeat(200));
  const completed = record("payment.completed", {
    value: encodeEvent("payment.completed", { ...event, completedAt: event.failedAt }),
  });
  assert.equal(parseOutcome(completed).reason, null);
});

Deno.test("parseOutcome() throws a TypeError for every kind of poison record", () => {
  const valid = record("payment.failed");
  const poison: OutcomeRecord[] = [
    { ...valid, topic: "payment.initiated" },
    { ...valid, headers: { ...valid.headers, ce_id: "nope" } },
    { ...valid, headers: { ...valid.headers, ce_type: "payment.completed" } },
    { ...valid, headers: { ...valid.headers, ce_specversion: "0.3" } },
    { ...valid, value: new Uint8Array([0xff, 0xff, 0xff]) },
    { ...valid, value: encodeEvent("payment.failed", { ...event, paymentId: "not-a-uuid" }) },
    { ...valid, value: encodeEvent("payment.failed", { ...event, reason: "" }) },
  ];
  for (const r of poison) assert.throws(() => parseOutcome(r), TypeError, JSON.stringify(r.headers));
});
