/**
 * End to end: the notification program as a child process against the
 * devstack Kafka broker, the real PostgreSQL and a real SMTP server
 * (aiosmtpd). A kafkajs producer publishes properly encoded events with
 * CloudEvents headers. Proves one mail per (event, recipient) even when an
 * event is published twice or the program is killed mid-stream, that a
 * poison record goes to the dead-letter topic while later events are still
 * notified, and that SIGTERM stops the program cleanly.
 */

import assert from "node:assert/strict";
import { encodeEvent, eventHeaders, silentLogger, TOPICS } from "@securepay/shared";
import { connectKafka, type ConsumedRecord, type EventProducer, type KafkaClient } from "@securepay/shared/kafka";
import { createTestDatabase, freePort, spawnProgram, startTestBroker, waitFor } from "@securepay/shared/testing";
import { decodeHeaderText, type ReceivedMail, startSmtpServer, type TestSmtpServer } from "./_smtp_server.ts";

const DLQ = "notification-service-group.dlq";

function kafkaClient(brokers: readonly string[]): KafkaClient {
  return connectKafka({ brokers, clientId: "notification-test", logger: silentLogger, fetchWaitMaxMs: 100 });
}

interface Published {
  readonly id: string;
  readonly paymentId: string;
}

async function publishCompleted(
  producer: EventProducer,
  options: { id?: string; amount: number; currency: string; payer: string; payee: string },
): Promise<Published> {
  const id = options.id ?? crypto.randomUUID();
  const paymentId = crypto.randomUUID();
  const fromAccount = crypto.randomUUID();
  await producer.send([{
    topic: TOPICS.paymentCompleted,
    key: fromAccount,
    value: encodeEvent(TOPICS.paymentCompleted, {
      paymentId,
      fromAccount,
      toAccount: crypto.randomUUID(),
      amount: options.amount,
      currency: options.currency,
      completedAt: new Date().toISOString(),
      payerOwnerId: options.payer,
      payeeOwnerId: options.payee,
    }),
    headers: {
      ...eventHeaders({
        id,
        type: TOPICS.paymentCompleted,
        source: "/securepay/account-service",
        time: new Date().toISOString(),
      }),
    },
  }]);
  return { id, paymentId };
}

function startProgram(env: { database: string; brokers: readonly string[]; smtp: TestSmtpServer }) {
  const adminPort = freePort();
  return spawnProgram("notification", {
    main: "notification/main.ts",
    env: {
      DATABASE_URL: env.database,
      DATABASE_POOL_MAX: "2",
      KAFKA_BROKERS: env.brokers.join(","),
      ADMIN_PORT: String(adminPort),
      ADMIN_HOST: "127.0.0.1",
      SMTP_URL: `smtp://${env.smtp.hostname}:${env.smtp.port}`,
      SMTP_FROM: "notify@securepay.test",
      NOTIFY_EMAIL_TEMPLATE: "{owner}@example.test",
      SMTP_TIMEOUT_MS: "2000",
      // A killed member's partitions move on after this; the broker's minimum.
      KAFKA_SESSION_TIMEOUT_MS: "6000",
      LOG_LEVEL: "info",
    },
    adminPort,
  }).then((program) => ({ program, adminPort }));
}

function byEvent(mail: readonly ReceivedMail[]): Map<string, ReceivedMail[]> {
  const out = new Map<string, ReceivedMail[]>();
  for (const m of mail) {
    const key = m.headers["message-id"] ?? "";
    out.set(key, [...(out.get(key) ?? []), m]);
  }
  return out;
}

Deno.test("notification mails each owner once per event, dead-letters a poison record and stops cleanly", async () => {
  await using database = await createTestDatabase();
  await using broker = await startTestBroker();
  await using smtp = await startSmtpServer();
  const kafka = kafkaClient(broker.brokers);
  await using producer = await kafka.producer();
  const { program, adminPort } = await startProgram({ database: database.url, brokers: broker.brokers, smtp });
  try {
    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    assert.deepEqual(await ready.json(), { status: "ready", checks: { database: "ok", kafka: "ok" } });

    const first = await publishCompleted(producer, { amount: 1050, currency: "EUR", payer: "alice", payee: "bob" });
    // The same event again, as a producer retry or a relay restart would publish it.
    await publishCompleted(producer, { id: first.id, amount: 1050, currency: "EUR", payer: "alice", payee: "bob" });
    const poisonId = crypto.randomUUID();
    await producer.send([{
      topic: TOPICS.paymentFailed,
      key: "poison",
      value: new Uint8Array([0xff, 0xff, 0xff, 0xff]),
      headers: {
        ...eventHeaders({ id: poisonId, type: TOPICS.paymentFailed, source: "/test", time: new Date().toISOString() }),
      },
    }]);
    await producer.send([{
      topic: TOPICS.paymentFailed,
      key: "poison",
      value: encodeEvent(TOPICS.paymentFailed, {
        paymentId: crypto.randomUUID(),
        fromAccount: crypto.randomUUID(),
        toAccount: crypto.randomUUID(),
        amount: 500,
        currency: "JPY",
        reason: "insufficient_funds",
        failedAt: new Date().toISOString(),
        payerOwnerId: "carol",
        payeeOwnerId: "dave",
      }),
      headers: {
        ...eventHeaders({
          id: crypto.randomUUID(),
          type: TOPICS.paymentFailed,
          source: "/test",
          time: new Date().toISOString(),
        }),
      },
    }]);

    await waitFor("three mails", async () => (await smtp.messages()).length >= 3, { timeoutMs: 30_000 });
    const dead: ConsumedRecord[] = [];
    {
      await using reader = kafka.consumer({
        groupId: `dlq-reader-${crypto.randomUUID()}`,
        topics: [DLQ],
        fromBeginning: true,
        handler: (records) => {
          dead.push(...records);
          return Promise.resolve();
        },
      });
      await reader.ready;
      await waitFor("the poison record in the dead-letter topic", () => dead.length >= 1, { timeoutMs: 30_000 });
    }
    // A second copy of the first event would have come before the failed payment's mail, which is here.
    const second = await publishCompleted(producer, { amount: 7, currency: "JPY", payer: "erin", payee: "frank" });
    await waitFor("the later event's mails", async () => (await smtp.messages()).length >= 5, { timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));

    const mail = await smtp.messages();
    assert.deepEqual(
      mail.map((m) => [m.rcptTo, decodeHeaderText(m.headers.subject!)]),
      [
        ["alice@example.test", "Payment sent: €10.50"],
        ["bob@example.test", "Payment received: €10.50"],
        ["carol@example.test", "Payment failed: ¥500"],
        ["erin@example.test", "Payment sent: ¥7"],
        ["frank@example.test", "Payment received: ¥7"],
      ],
    );
    assert.match(mail[0]!.text, new RegExp(`Payment: ${first.paymentId}`));
    assert.equal(mail[3]!.headers["x-securepay-event-id"], second.id);

    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.headers.ce_id, poisonId);
    assert.equal(dead[0]!.headers.dlq_original_topic, TOPICS.paymentFailed);
    assert.match(
      dead[0]!.headers.dlq_reason!,
      /Cannot notify as the event is invalid: the payload is not a payment.failed/,
    );

    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    assert.match(metrics, /securepay_notifications_sent_total\{channel="smtp",type="payment.completed"\} 4/);
    assert.match(metrics, /securepay_notifications_sent_total\{channel="smtp",type="payment.failed"\} 1/);
    assert.match(metrics, /securepay_notification_duplicates_total\{type="payment.completed"\} 2/);
    assert.match(metrics, /securepay_notification_invalid_records_total\{topic="payment.failed"\} [1-9]/);
    const rows = await database.db.sql`select status, count(*)::int as n from notifications.deliveries group by status`;
    assert.deepEqual(rows.map((r) => [r.status, r.n]), [["sent", 5]]);
  } finally {
    const code = await program.stop();
    assert.equal(code, 0, program.output());
  }
  const output = program.output();
  assert.match(output, /"msg":"stopped"/);
  assert.doesNotMatch(output, /"level":"error".*"msg":"shutdown step failed"/);
});

Deno.test("notification never mails twice across a kill -9 and restart in the middle of a stream", async () => {
  await using database = await createTestDatabase();
  await using broker = await startTestBroker({ defaultPartitions: 3 });
  await using smtp = await startSmtpServer();
  const kafka = kafkaClient(broker.brokers);
  await using producer = await kafka.producer();
  const events: Published[] = [];
  for (let i = 0; i < 40; i++) {
    events.push(
      await publishCompleted(producer, { amount: 100 + i, currency: "EUR", payer: `payer${i}`, payee: `payee${i}` }),
    );
  }
  const first = await startProgram({ database: database.url, brokers: broker.brokers, smtp });
  try {
    await waitFor("some mails", async () => (await smtp.messages()).length >= 15, { timeoutMs: 30_000, intervalMs: 5 });
    first.program.child.kill("SIGKILL");
  } finally {
    await first.program.stop();
  }
  // Every event published again, as a relay restarting before it marked its outbox would.
  for (const e of events.slice(0, 20)) {
    await publishCompleted(producer, { id: e.id, amount: 1, currency: "EUR", payer: "x", payee: "y" });
  }
  const second = await startProgram({ database: database.url, brokers: broker.brokers, smtp });
  try {
    await waitFor("every notice settled", async () => {
      const [row] = await database.db.sql`
        select count(*) filter (where status in ('sent', 'unknown'))::int as settled from notifications.deliveries`;
      return row!.settled === 80;
    }, { timeoutMs: 60_000, intervalMs: 100 });
  } finally {
    assert.equal(await second.program.stop(), 0, second.program.output());
  }
  const mail = byEvent(await smtp.messages());
  for (const [messageId, copies] of mail) {
    assert.equal(copies.length, 1, `${messageId} was mailed ${copies.length} times`);
  }
  const rows = await database.db.sql<{ event_id: string; recipient: string; status: string }[]>`
    select event_id::text, recipient, status from notifications.deliveries`;
  assert.equal(rows.length, 80);
  const unknown = rows.filter((r) => r.status === "unknown");
  // At most once: every notice recorded sent was mailed once; one caught mid-send by the kill is
  // recorded unknown (mailed or not) and never sent again.
  for (const row of rows.filter((r) => r.status === "sent")) {
    assert.ok(
      mail.has(`<${row.event_id}.${row.recipient}@notification.securepay>`),
      `${row.event_id} ${row.recipient}`,
    );
  }
  assert.ok(unknown.length <= 1, `a kill catches at most the one send in flight: ${unknown.length}`);
});
