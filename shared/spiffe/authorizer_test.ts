import assert from "node:assert/strict";
import { AuthorizationError, authorizeAny, authorizeId, authorizeMemberOf, authorizeOneOf } from "./authorizer.ts";
import { SpiffeId } from "./spiffe_id.ts";

const gateway = SpiffeId.parse("spiffe://securepay.dev/api-gateway");
const payment = SpiffeId.parse("spiffe://securepay.dev/payment-service");
const notification = SpiffeId.parse("spiffe://securepay.dev/notification-service");
const foreign = SpiffeId.parse("spiffe://evil.example/api-gateway");

const rejects = (fn: () => void, reason: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof AuthorizationError && reason.test(e.message));

Deno.test("authorizeAny() lets every verified id through", () => {
  authorizeAny()(foreign);
});

Deno.test("authorizeId() accepts exactly its id and names the one it rejects", () => {
  const authorize = authorizeId("spiffe://securepay.dev/api-gateway");
  authorize(gateway);
  rejects(() => authorize(payment), /unexpected ID "spiffe:\/\/securepay.dev\/payment-service"/);
  rejects(() => authorize(foreign), /unexpected ID/);
  assert.throws(() => authorizeId("not an id"), /scheme/);
});

Deno.test("authorizeOneOf() accepts its ids only and refuses an empty list", () => {
  const authorize = authorizeOneOf(gateway, "spiffe://securepay.dev/payment-service");
  authorize(gateway);
  authorize(payment);
  rejects(() => authorize(notification), /unexpected ID/);
  rejects(() => authorize(foreign), /unexpected ID/);
  assert.throws(() => authorizeOneOf(), TypeError);
});

Deno.test("authorizeMemberOf() accepts its trust domain only", () => {
  const authorize = authorizeMemberOf("securepay.dev");
  authorize(notification);
  rejects(() => authorize(foreign), /unexpected trust domain "evil.example"/);
});
