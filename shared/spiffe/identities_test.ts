import assert from "node:assert/strict";
import { AuthorizationError } from "./authorizer.ts";
import { authorizeCallersOf, authorizeServer, CALLERS_OF, SERVICE_IDS } from "./identities.ts";

Deno.test("SERVICE_IDS and CALLERS_OF match DESIGN §3", () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(SERVICE_IDS).map(([k, v]) => [k, v.toString()])),
    {
      "api-gateway": "spiffe://securepay.dev/api-gateway",
      "payment-service": "spiffe://securepay.dev/payment-service",
      "account-service": "spiffe://securepay.dev/account-service",
      "notification-service": "spiffe://securepay.dev/notification-service",
    },
  );
  assert.deepEqual(CALLERS_OF, {
    "payment-service": ["api-gateway"],
    "account-service": ["api-gateway", "payment-service"],
  });
});

Deno.test("authorizeCallersOf() lets only §3's callers in", () => {
  const payment = authorizeCallersOf("payment-service");
  payment(SERVICE_IDS["api-gateway"]);
  for (const w of ["payment-service", "account-service", "notification-service"] as const) {
    assert.throws(() => payment(SERVICE_IDS[w]), AuthorizationError);
  }
  const account = authorizeCallersOf("account-service");
  account(SERVICE_IDS["api-gateway"]);
  account(SERVICE_IDS["payment-service"]);
  assert.throws(() => account(SERVICE_IDS["notification-service"]), AuthorizationError);
  assert.throws(() => account(SERVICE_IDS["account-service"]), AuthorizationError);
});

Deno.test("authorizeServer() expects exactly the dialled service", () => {
  authorizeServer("account-service")(SERVICE_IDS["account-service"]);
  assert.throws(() => authorizeServer("account-service")(SERVICE_IDS["payment-service"]), AuthorizationError);
});
