import assert from "node:assert/strict";
import { decodeEvent, dlqTopic, encodeEvent, eventHeaders, parseEventHeaders, TOPICS } from "./events.ts";

Deno.test("encodeEvent() and decodeEvent() round-trip each topic's message", () => {
  const message = {
    paymentId: crypto.randomUUID(),
    fromAccount: crypto.randomUUID(),
    toAccount: crypto.randomUUID(),
    amount: 1050,
    currency: "EUR",
    reason: "insufficient_funds",
    failedAt: new Date(0).toISOString(),
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
  };
  assert.deepEqual(decodeEvent(TOPICS.paymentFailed, encodeEvent(TOPICS.paymentFailed, message)), message);
});

Deno.test("decodeEvent() refuses bytes that are not the topic's message", () => {
  assert.throws(() => decodeEvent(TOPICS.paymentInitiated, new Uint8Array([0xff, 0xff, 0xff])), TypeError);
});

Deno.test("parseEventHeaders() accepts what eventHeaders() writes and refuses bad headers", () => {
  const headers = eventHeaders({
    id: crypto.randomUUID(),
    type: TOPICS.paymentInitiated,
    source: "/securepay/payment-service",
    time: new Date().toISOString(),
    traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
  });
  const parsed = parseEventHeaders(TOPICS.paymentInitiated, { ...headers });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.headers, headers);
  const bad: Record<string, string>[] = [
    { ...headers, ce_id: "1" },
    { ...headers, ce_type: "payment.completed" },
    { ...headers, ce_specversion: "0.3" },
    { ...headers, ce_time: "yesterday" },
    { ...headers, ce_source: "" },
  ];
  for (const h of bad) assert.equal(parseEventHeaders(TOPICS.paymentInitiated, h).ok, false, JSON.stringify(h));
});

Deno.test("eventHeaders() drops a malformed traceparent", () => {
  const headers = eventHeaders({
    id: crypto.randomUUID(),
    type: TOPICS.paymentCompleted,
    source: "/x",
    time: new Date().toISOString(),
    traceparent: "garbage",
  });
  assert.equal(headers.traceparent, undefined);
  assert.equal(dlqTopic("account-service-group"), "account-service-group.dlq");
});
