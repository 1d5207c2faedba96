/**
 * The SMTP channel against a real SMTP server (python3-aiosmtpd started by
 * the test): notices arrive addressed to their owners with the rendered
 * subject and body. Scripted peers then prove how failures are classified:
 * a refusal or a dead server means "not sent" (retry later), a connection
 * lost after the end of the data means "unknown" (never resent).
 */

import assert from "node:assert/strict";
import { freePort } from "@securepay/shared/testing";
import { DeliveryUnknownError, type Notification, UndeliverableError } from "../domain/notification.ts";
import { renderNotifications } from "../domain/templates.ts";
import { SmtpError } from "../senders/smtp_client.ts";
import { smtpSender } from "../senders/smtp_sender.ts";
import { decodeHeaderText, startSmtpServer } from "./_smtp_server.ts";

const FROM = "11111111-1111-4111-8111-111111111111";
const TO = "22222222-2222-4222-8222-222222222222";

function notices(type: "payment.completed" | "payment.failed", amountMinor: number, currency: string) {
  return renderNotifications({
    id: crypto.randomUUID(),
    type,
    paymentId: crypto.randomUUID(),
    fromAccount: FROM,
    toAccount: TO,
    amountMinor,
    currency,
    reason: type === "payment.failed" ? "insufficient_funds" : "",
    occurredAt: "2026-01-02T03:04:05.000Z",
    payerOwnerId: "alice",
    payeeOwnerId: "auth0|bob",
  });
}

function sender(port: number, timeoutMs = 5_000) {
  return smtpSender({
    hostname: "127.0.0.1",
    port,
    from: "notify@securepay.test",
    addressTemplate: "{owner}@example.test",
    timeoutMs,
    heloName: "notification.test",
  });
}

Deno.test("smtpSender() delivers each notice to its owner's address at a real SMTP server", async () => {
  await using server = await startSmtpServer();
  const smtp = sender(server.port);
  const completed = notices("payment.completed", 1050, "EUR");
  const failed = notices("payment.failed", 1050, "JPY");
  const dotted: Notification = { ...failed[0]!, role: "payee", body: ".starts with a dot\n..and two\nend" };
  for (const notice of [...completed, ...failed, dotted]) await smtp.send(notice);

  const mail = await server.messages();
  assert.equal(mail.length, 4, server.output());
  const [payer, payee, failure, dots] = mail;
  assert.equal(payer!.rcptTo, "alice@example.test");
  assert.equal(payer!.mailFrom, "notify@securepay.test");
  assert.equal(decodeHeaderText(payer!.headers.subject!), "Payment sent: €10.50");
  assert.equal(payer!.text, completed[0]!.body);
  assert.equal(payer!.headers["message-id"], `<${completed[0]!.eventId}.payer@notification.securepay>`);
  assert.equal(payer!.headers["x-securepay-event-type"], "payment.completed");

  assert.equal(payee!.rcptTo, "auth0=7Cbob@example.test");
  assert.equal(decodeHeaderText(payee!.headers.subject!), "Payment received: €10.50");
  assert.equal(payee!.text, completed[1]!.body);

  assert.equal(failure!.rcptTo, "alice@example.test");
  assert.equal(decodeHeaderText(failure!.headers.subject!), "Payment failed: ¥1,050");
  assert.match(failure!.text, /failed: the paying account has insufficient funds\./);

  assert.equal(dots!.text, ".starts with a dot\n..and two\nend");
});

/** A scripted SMTP peer: answers each command from `script` and records what it received. */
function scriptedServer(
  script: (line: string, conn: Deno.Conn) => Promise<"close" | void>,
): { port: number; received: string[]; close(): Promise<void> } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const conns = new Set<Deno.Conn>();
  const serve = (async () => {
    for await (const conn of listener) {
      conns.add(conn);
      (async () => {
        const encoder = new TextEncoder();
        await conn.write(encoder.encode("220 scripted ESMTP\r\n"));
        let buffer = "";
        const chunk = new Uint8Array(4096);
        try {
          while (true) {
            const n = await conn.read(chunk);
            if (n === null) break;
            buffer += new TextDecoder().decode(chunk.subarray(0, n));
            let end;
            while ((end = buffer.indexOf("\r\n")) >= 0) {
              const line = buffer.slice(0, end);
              buffer = buffer.slice(end + 2);
              received.push(line);
              if (await script(line, conn) === "close") {
                conn.close();
                conns.delete(conn);
                return;
              }
            }
          }
        } catch {
          // Closed by the client or by close().
        }
      })();
    }
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    received,
    async close() {
      listener.close();
      for (const conn of conns) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await serve.catch(() => {});
    },
  };
}

function reply(conn: Deno.Conn, text: string) {
  return conn.write(new TextEncoder().encode(text + "\r\n"));
}

/** Answers like a server until the command matching `at`, where `then` takes over. */
function scriptUntil(at: RegExp, then: (conn: Deno.Conn) => Promise<"close" | void>) {
  let inData = false;
  return async (line: string, conn: Deno.Conn): Promise<"close" | void> => {
    if (inData) {
      if (line !== ".") return;
      inData = false;
      if (at.test(".")) return await then(conn);
      await reply(conn, "250 queued");
      return;
    }
    if (at.test(line)) return await then(conn);
    if (line.startsWith("EHLO")) await reply(conn, "250-scripted\r\n250 8BITMIME");
    else if (line === "DATA") {
      inData = true;
      await reply(conn, "354 go ahead");
    } else if (line === "QUIT") {
      await reply(conn, "221 bye");
      return "close";
    } else await reply(conn, "250 ok");
  };
}

Deno.test("smtpSender() reports a permanently refused recipient as undeliverable", async () => {
  const server = scriptedServer(scriptUntil(/^RCPT TO/, async (conn) => {
    await reply(conn, "550 no such user");
  }));
  try {
    const error = await sender(server.port).send(notices("payment.failed", 1, "EUR")[0]!).catch((e) => e);
    assert.ok(error instanceof UndeliverableError, String(error));
    assert.ok(error.cause instanceof SmtpError);
    assert.equal(error.cause.delivered, "no");
    assert.equal(error.cause.replyCode, 550);
    assert.ok(!server.received.includes("DATA"));
  } finally {
    await server.close();
  }
});

Deno.test("smtpSender() reports a message deferred after its data as not sent, to be tried again", async () => {
  const server = scriptedServer(scriptUntil(/^\.$/, async (conn) => {
    await reply(conn, "451 local problem, try later");
  }));
  try {
    const error = await sender(server.port).send(notices("payment.failed", 1, "EUR")[0]!).catch((e) => e);
    assert.ok(error instanceof SmtpError, String(error));
    assert.equal(error.delivered, "no");
    assert.equal(error.replyCode, 451);
  } finally {
    await server.close();
  }
});

Deno.test("smtpSender() reports a connection lost after the end of the data as unknown", async () => {
  const server = scriptedServer(scriptUntil(/^\.$/, () => Promise.resolve("close" as const)));
  try {
    const error = await sender(server.port).send(notices("payment.failed", 1, "EUR")[0]!).catch((e) => e);
    assert.ok(error instanceof DeliveryUnknownError, String(error));
  } finally {
    await server.close();
  }
});

Deno.test("smtpSender() gives up within its bound on a server that stops answering", async () => {
  const server = scriptedServer(scriptUntil(/^MAIL FROM/, () => Promise.resolve()));
  try {
    const started = Date.now();
    const error = await sender(server.port, 300).send(notices("payment.failed", 1, "EUR")[0]!).catch((e) => e);
    assert.ok(error instanceof SmtpError, String(error));
    assert.equal(error.delivered, "no");
    assert.match(error.message, /took over 300 ms/);
    assert.ok(Date.now() - started < 2_000);
  } finally {
    await server.close();
  }
});

Deno.test("smtpSender() reports a server that is not there as certainly not sent", async () => {
  const error = await sender(freePort()).send(notices("payment.failed", 1, "EUR")[0]!).catch((e) => e);
  assert.ok(error instanceof SmtpError, String(error));
  assert.equal(error.delivered, "no");
});
