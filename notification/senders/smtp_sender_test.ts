import assert from "node:assert/strict";
import type { Notification } from "../domain/notification.ts";
import { dotStuff, isMailAddress } from "./smtp_client.ts";
import { addressFor, addressTemplateProblem, encodeHeaderText, encodeOwner, renderMessage } from "./smtp_sender.ts";

const NOTICE: Notification = {
  eventId: "44444444-4444-4444-8444-444444444444",
  eventType: "payment.completed",
  paymentId: "33333333-3333-4333-8333-333333333333",
  role: "payee",
  ownerId: "bob",
  subject: "Payment received: €10.50",
  body: "You received €10.50.\n.hidden line\n\nSecurePay",
};

Deno.test("encodeOwner() keeps plain ids and writes every other character as =XX bytes", () => {
  assert.equal(encodeOwner("alice"), "alice");
  assert.equal(encodeOwner("auth0|42"), "auth0=7C42");
  assert.equal(encodeOwner("a.b"), "a=2Eb");
  assert.equal(encodeOwner("é"), "=C3=A9");
  assert.equal(encodeOwner("x\r\nRCPT TO:<evil@x>"), "x=0D=0ARCPT=20TO=3A=3Cevil=40x=3E");
});

Deno.test("addressFor() fills the template and refuses what is not a plain address", () => {
  assert.equal(addressFor("{owner}@example.test", "alice"), "alice@example.test");
  assert.equal(addressFor("notify+{owner}@example.test", "auth0|1"), "notify+auth0=7C1@example.test");
  assert.ok(isMailAddress(addressFor("{owner}@example.test", "x\r\n.\r\nQUIT")));
  assert.throws(() => addressFor("{owner}@example.test", "o".repeat(65)), TypeError);
  assert.equal(addressTemplateProblem("{owner}@example.test"), undefined);
  assert.match(addressTemplateProblem("alice@example.test")!, /exactly once/);
});

Deno.test("encodeHeaderText() leaves ASCII alone and splits UTF-8 into encoded words of at most 75 characters", () => {
  assert.equal(encodeHeaderText("Payment sent: $1.00"), "Payment sent: $1.00");
  const encoded = encodeHeaderText("€".repeat(40));
  const words = encoded.split("\r\n ");
  assert.ok(words.length > 1);
  for (const word of words) {
    assert.match(word, /^=\?UTF-8\?B\?[A-Za-z0-9+/=]+\?=$/);
    assert.ok(word.length <= 75, word);
  }
  const decoded = words.map((w) =>
    new TextDecoder().decode(Uint8Array.from(atob(w.slice(10, -2)), (c) => c.charCodeAt(0)))
  )
    .join("");
  assert.equal(decoded, "€".repeat(40));
});

Deno.test("renderMessage() writes a 7-bit message with a Message-ID per event and recipient", () => {
  const message = renderMessage(NOTICE, {
    from: "notify@securepay.test",
    to: "bob@example.test",
    date: new Date("2026-01-02T03:04:05Z"),
  });
  assert.match(message, /^From: notify@securepay\.test\r\nTo: bob@example\.test\r\nSubject: =\?UTF-8\?B\?/);
  assert.match(message, /\r\nDate: Fri, 02 Jan 2026 03:04:05 GMT\r\n/);
  assert.match(message, /\r\nMessage-ID: <44444444-4444-4444-8444-444444444444\.payee@notification\.securepay>\r\n/);
  assert.match(message, /\r\nContent-Transfer-Encoding: base64\r\n/);
  // deno-lint-ignore no-control-regex
  assert.match(message, /^[\x00-\x7f]*$/);
  for (const line of message.split("\r\n")) assert.ok(line.length <= 998);
});

Deno.test("dotStuff() doubles leading dots and normalises line breaks to CRLF", () => {
  assert.equal(dotStuff("a\n.b\r\n..c\rd"), "a\r\n..b\r\n...c\r\nd\r\n");
  assert.equal(dotStuff(".\n"), "..\r\n");
  assert.equal(dotStuff("x\r\n"), "x\r\n");
});
