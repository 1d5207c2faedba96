import assert from "node:assert/strict";
import type { PaymentEvent } from "./notification.ts";
import { recipientRoles, renderNotifications } from "./templates.ts";

const FROM = "11111111-1111-4111-8111-111111111111";
const TO = "22222222-2222-4222-8222-222222222222";
const PAYMENT = "33333333-3333-4333-8333-333333333333";
const EVENT = "44444444-4444-4444-8444-444444444444";

function event(overrides: Partial<PaymentEvent>): PaymentEvent {
  return {
    id: EVENT,
    type: "payment.completed",
    paymentId: PAYMENT,
    fromAccount: FROM,
    toAccount: TO,
    amountMinor: 1050,
    currency: "EUR",
    reason: "",
    occurredAt: "2026-01-02T03:04:05.000Z",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
    ...overrides,
  };
}

Deno.test("renderNotifications() tells the payer and the payee of a completed payment", () => {
  const [payer, payee, ...rest] = renderNotifications(event({}));
  assert.equal(rest.length, 0);
  assert.deepEqual({ ...payer, body: undefined }, {
    eventId: EVENT,
    eventType: "payment.completed",
    paymentId: PAYMENT,
    role: "payer",
    ownerId: "alice",
    subject: "Payment sent: €10.50",
    body: undefined,
  });
  assert.equal(
    payer!.body,
    `Your payment of €10.50 from account ${FROM} to account ${TO} has completed.\n\n` +
      `Payment: ${PAYMENT}\nTime: 2026-01-02T03:04:05.000Z\n\nSecurePay`,
  );
  assert.equal(payee!.role, "payee");
  assert.equal(payee!.ownerId, "bob");
  assert.equal(payee!.subject, "Payment received: €10.50");
  assert.match(payee!.body, new RegExp(`^You received €10\\.50 into account ${TO} from account ${FROM}\\.\n`));
});

Deno.test("renderNotifications() formats JPY amounts without minor digits", () => {
  const [payer, payee] = renderNotifications(event({ amountMinor: 1050, currency: "JPY" }));
  assert.equal(payer!.subject, "Payment sent: ¥1,050");
  assert.equal(payee!.subject, "Payment received: ¥1,050");
  assert.match(payer!.body, /Your payment of ¥1,050 from/);
});

Deno.test("renderNotifications() tells only the payer of a failed payment, with a readable reason", () => {
  const notices = renderNotifications(
    event({ type: "payment.failed", reason: "insufficient_funds", payeeOwnerId: "" }),
  );
  assert.equal(notices.length, 1);
  assert.equal(notices[0]!.role, "payer");
  assert.equal(notices[0]!.subject, "Payment failed: €10.50");
  assert.match(
    notices[0]!.body,
    new RegExp(
      `^Your payment of €10\\.50 from account ${FROM} to account ${TO} failed: ` +
        "the paying account has insufficient funds\\.\nNo money was moved\\.\n",
    ),
  );
  const unknown = renderNotifications(event({ type: "payment.failed", reason: "limits_exceeded" }));
  assert.match(unknown[0]!.body, /failed: reason code limits_exceeded\./);
  const none = renderNotifications(event({ type: "payment.failed", reason: "" }));
  assert.match(none[0]!.body, /failed: for a reason the system did not give\./);
});

Deno.test("renderNotifications() tells both owners of a refund, each from their side", () => {
  const [payer, payee, ...rest] = renderNotifications(
    event({ type: "payment.refunded", amountMinor: 5, currency: "USD" }),
  );
  assert.equal(rest.length, 0);
  assert.equal(payer!.subject, "Refund received: $0.05");
  assert.match(
    payer!.body,
    new RegExp(`^Your payment of \\$0\\.05 to account ${TO} was refunded: \\$0\\.05 is back in account ${FROM}\\.`),
  );
  assert.equal(payee!.subject, "Payment refunded: $0.05");
  assert.match(payee!.body, new RegExp(`\\$0\\.05 was taken back from account ${TO}\\.`));
});

Deno.test("renderNotifications() tells only the payer of a failed refund", () => {
  const notices = renderNotifications(
    event({ type: "payment.refund.failed", reason: "account_closed", amountMinor: 99, currency: "JPY" }),
  );
  assert.equal(notices.length, 1);
  assert.equal(notices[0]!.subject, "Refund failed: ¥99");
  assert.match(notices[0]!.body, /could not be made: one of the accounts is closed\.\nThe payment stays completed\./);
});

Deno.test("renderNotifications() refuses an event without the owner it must notify", () => {
  assert.throws(() => renderNotifications(event({ payeeOwnerId: "" })), TypeError);
  assert.throws(() => renderNotifications(event({ type: "payment.failed", payerOwnerId: "" })), TypeError);
});

Deno.test("recipientRoles() lists the payer always and the payee when money reached or left their account", () => {
  assert.deepEqual(recipientRoles("payment.completed"), ["payer", "payee"]);
  assert.deepEqual(recipientRoles("payment.failed"), ["payer"]);
  assert.deepEqual(recipientRoles("payment.refunded"), ["payer", "payee"]);
  assert.deepEqual(recipientRoles("payment.refund.failed"), ["payer"]);
});
