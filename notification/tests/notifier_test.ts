/**
 * The notifier on the real PostgreSQL (a fresh database per test): one
 * notice per (event, recipient) however often and however concurrently the
 * event arrives; a notice that certainly failed is sent on a later attempt;
 * one whose fate is unknown (lost reply, or a sender that died mid-send)
 * is counted and never sent again.
 */

import assert from "node:assert/strict";
import { createLogger, MetricsRegistry, silentLogger } from "@securepay/shared";
import { createTestDatabase } from "@securepay/shared/testing";
import {
  DeliveryUnknownError,
  type Notification,
  type NotificationSender,
  type PaymentEvent,
  UndeliverableError,
} from "../domain/notification.ts";
import { migrateNotifications } from "../mod.ts";
import { createNotifier } from "../notifier.ts";
import { logSender } from "../senders/log_sender.ts";
import { postgresDeliveryStore } from "../store/deliveries.ts";

function completedEvent(): PaymentEvent {
  return {
    id: crypto.randomUUID(),
    type: "payment.completed",
    paymentId: crypto.randomUUID(),
    fromAccount: crypto.randomUUID(),
    toAccount: crypto.randomUUID(),
    amountMinor: 1050,
    currency: "EUR",
    reason: "",
    occurredAt: "2026-01-02T03:04:05.000Z",
    payerOwnerId: "alice",
    payeeOwnerId: "bob",
  };
}

/** A sender whose behaviour each test scripts; it records what it was given. */
function scriptedSender(behave: (notice: Notification, call: number) => Promise<void>): NotificationSender & {
  sent: Notification[];
} {
  let calls = 0;
  const sent: Notification[] = [];
  return {
    channel: "test",
    sendTimeoutMs: 1_000,
    sent,
    async send(notice) {
      await behave(notice, ++calls);
      sent.push(notice);
    },
  };
}

async function setup() {
  const database = await createTestDatabase();
  await migrateNotifications(database.db.sql);
  return { database, store: postgresDeliveryStore(database.db.sql) };
}

Deno.test("notify() sends each recipient's notice once when the same event arrives twice", async () => {
  const { database, store } = await setup();
  await using _ = database;
  const lines: string[] = [];
  const logger = createLogger({ service: "notification", write: (line) => lines.push(line) });
  const metrics = new MetricsRegistry();
  const notifier = createNotifier({ store, sender: logSender(logger), logger: silentLogger, metrics });
  const event = completedEvent();

  assert.deepEqual(await notifier.notify(event), ["sent", "sent"]);
  assert.deepEqual(await notifier.notify(event), ["duplicate", "duplicate"]);

  const notices = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "notification");
  assert.deepEqual(notices.map((n) => [n.recipient, n.owner_id, n.subject]), [
    ["payer", "alice", "Payment sent: €10.50"],
    ["payee", "bob", "Payment received: €10.50"],
  ]);
  assert.deepEqual(await store.status(event.id), [
    { recipient: "payee", status: "sent", attempts: 1 },
    { recipient: "payer", status: "sent", attempts: 1 },
  ]);
  const text = metrics.render();
  assert.match(text, /securepay_notifications_sent_total\{channel="log",type="payment.completed"\} 2/);
  assert.match(text, /securepay_notification_duplicates_total\{type="payment.completed"\} 2/);
});

Deno.test("notify() sends once when two consumers handle the same event at the same time", async () => {
  // A rebalance can hand a partition to a new member while the old one is still sending.
  const { database, store } = await setup();
  await using _ = database;
  const sender = scriptedSender(() => new Promise((resolve) => setTimeout(resolve, 150)));
  const make = () =>
    createNotifier({ store, sender, logger: silentLogger, metrics: new MetricsRegistry(), busyPollMs: 20 });
  const event = completedEvent();
  const outcomes = await Promise.all([make().notify(event), make().notify(event), make().notify(event)]);
  assert.equal(sender.sent.length, 2);
  assert.deepEqual(sender.sent.map((n) => n.role).sort(), ["payee", "payer"]);
  assert.deepEqual(outcomes.flat().sort(), ["duplicate", "duplicate", "duplicate", "duplicate", "sent", "sent"]);
});

Deno.test("notify() retries a notice that certainly failed and sends it exactly once", async () => {
  const { database, store } = await setup();
  await using _ = database;
  const sender = scriptedSender((notice, call) =>
    call === 1 && notice.role === "payer" ? Promise.reject(new Error("421 try again later")) : Promise.resolve()
  );
  const metrics = new MetricsRegistry();
  const notifier = createNotifier({ store, sender, logger: silentLogger, metrics });
  const event = completedEvent();

  await assert.rejects(notifier.notify(event), /Cannot notify as the test channel failed/);
  assert.deepEqual((await store.status(event.id)).map((r) => [r.recipient, r.status]), [["payer", "failed"]]);
  // The consumer retries the batch: the payer's notice is claimed again, the payee's is new.
  assert.deepEqual(await notifier.notify(event), ["sent", "sent"]);
  assert.deepEqual(await notifier.notify(event), ["duplicate", "duplicate"]);
  assert.equal(sender.sent.length, 2);
  assert.deepEqual(await store.status(event.id), [
    { recipient: "payee", status: "sent", attempts: 1 },
    { recipient: "payer", status: "sent", attempts: 2 },
  ]);
  assert.match(metrics.render(), /securepay_notification_failures_total\{channel="test",type="payment.completed"\} 1/);
});

Deno.test("notify() never resends a notice whose delivery is unknown, and counts it once", async () => {
  const { database, store } = await setup();
  await using _ = database;
  const sender = scriptedSender((notice) =>
    notice.role === "payer"
      ? Promise.reject(new DeliveryUnknownError("connection lost after the data"))
      : Promise.resolve()
  );
  const metrics = new MetricsRegistry();
  const notifier = createNotifier({ store, sender, logger: silentLogger, metrics });
  const event = completedEvent();
  assert.deepEqual(await notifier.notify(event), ["unknown", "sent"]);
  assert.deepEqual(await notifier.notify(event), ["unknown", "duplicate"]);
  assert.deepEqual((await store.status(event.id)).map((r) => r.status), ["sent", "unknown"]);
  assert.match(metrics.render(), /securepay_notification_unknown_total\{channel="test",type="payment.completed"\} 1\n/);
});

Deno.test("notify() treats a claim left by a crashed consumer as unknown instead of sending again", async () => {
  const { database, store } = await setup();
  await using _ = database;
  const event = completedEvent();
  // What a consumer killed between claiming and marking sent leaves behind.
  await database.db.sql`
    insert into notifications.deliveries
      (event_id, recipient, event_type, payment_id, owner_id, channel, status, claim_id, claimed_at)
    values (${event.id}, 'payer', ${event.type}, ${event.paymentId}, 'alice', 'test', 'sending',
      ${crypto.randomUUID()}, now() - interval '1 minute')`;
  const sender = scriptedSender(() => Promise.resolve());
  const metrics = new MetricsRegistry();
  const lines: string[] = [];
  const logger = createLogger({ service: "notification", write: (line) => lines.push(line) });
  const notifier = createNotifier({ store, sender, logger, metrics, leaseMarginMs: 1_000 });
  assert.deepEqual(await notifier.notify(event), ["unknown", "sent"]);
  assert.deepEqual(await notifier.notify(event), ["unknown", "duplicate"]);
  assert.deepEqual(sender.sent.map((n) => n.role), ["payee"]);
  assert.match(metrics.render(), /securepay_notification_unknown_total\{channel="test",type="payment.completed"\} 1\n/);
  assert.ok(lines.some((l) => /"level":"warn".*stopped mid-send/.test(l)));
});

Deno.test("notify() waits for a recent claim of another consumer and then sends nothing", async () => {
  const { database, store } = await setup();
  await using _ = database;
  const event = completedEvent();
  const claimId = crypto.randomUUID();
  await database.db.sql`
    insert into notifications.deliveries
      (event_id, recipient, event_type, payment_id, owner_id, channel, status, claim_id)
    values (${event.id}, 'payer', ${event.type}, ${event.paymentId}, 'alice', 'test', 'sending', ${claimId})`;
  const sender = scriptedSender(() => Promise.resolve());
  const notifier = createNotifier({
    store,
    sender,
    logger: silentLogger,
    metrics: new MetricsRegistry(),
    busyPollMs: 20,
  });
  const pending = notifier.notify(event);
  await new Promise((resolve) => setTimeout(resolve, 100));
  await database.db.sql`
    update notifications.deliveries set status = 'sent' where event_id = ${event.id} and claim_id = ${claimId}`;
  assert.deepEqual(await pending, ["duplicate", "sent"]);
  assert.deepEqual(sender.sent.map((n) => n.role), ["payee"]);
});

Deno.test("notify() passes an undeliverable notice up as such and leaves it claimable for a replay", async () => {
  const { database, store } = await setup();
  await using _ = database;
  const sender = scriptedSender((notice) =>
    notice.role === "payee" ? Promise.reject(new UndeliverableError("550 no such user")) : Promise.resolve()
  );
  const notifier = createNotifier({ store, sender, logger: silentLogger, metrics: new MetricsRegistry() });
  const event = completedEvent();
  await assert.rejects(notifier.notify(event), UndeliverableError);
  assert.deepEqual((await store.status(event.id)).map((r) => [r.recipient, r.status]), [
    ["payee", "failed"],
    ["payer", "sent"],
  ]);
});
