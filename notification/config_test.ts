import assert from "node:assert/strict";
import { parseNotificationConfig } from "./config.ts";

const BASE = { DATABASE_URL: "postgres://notification@localhost:5432/securepay" };

Deno.test("parseNotificationConfig() reports every bad variable at once", () => {
  assert.throws(
    () =>
      parseNotificationConfig({
        ADMIN_PORT: "99999",
        LOG_LEVEL: "loud",
        SHUTDOWN_TIMEOUT_MS: "x",
        KAFKA_BROKERS: "localhost:9092,nope",
        SMTP_URL: "smtp://mail.example.test:2525",
        SMTP_FROM: "not an address",
        SMTP_TIMEOUT_MS: "5",
      }),
    (error: Error) => {
      for (const name of ["ADMIN_PORT", "LOG_LEVEL", "SHUTDOWN_TIMEOUT_MS", "DATABASE_URL", "KAFKA_BROKERS"]) {
        assert.match(error.message, new RegExp(name));
      }
      assert.match(error.message, /SMTP_FROM must be a plain address/);
      assert.match(error.message, /NOTIFY_EMAIL_TEMPLATE is required when SMTP_URL is set/);
      assert.match(error.message, /SMTP_TIMEOUT_MS must be between/);
      return true;
    },
  );
});

Deno.test("parseNotificationConfig() runs without Kafka and with the log channel by default", () => {
  const config = parseNotificationConfig(BASE);
  assert.equal(config.kafkaBrokers, undefined);
  assert.equal(config.smtp, undefined);
  assert.equal(config.adminPort, 8083);
  assert.equal(config.databaseUrl, BASE.DATABASE_URL);
});

Deno.test("parseNotificationConfig() reads the SMTP channel", () => {
  const config = parseNotificationConfig({
    ...BASE,
    KAFKA_BROKERS: "127.0.0.1:9092, kafka-1:9092",
    SMTP_URL: "smtp://[::1]:2525",
    SMTP_FROM: "notify@securepay.test",
    NOTIFY_EMAIL_TEMPLATE: "{owner}@example.test",
    SMTP_TIMEOUT_MS: "3000",
  });
  assert.deepEqual(config.kafkaBrokers, ["127.0.0.1:9092", "kafka-1:9092"]);
  assert.deepEqual(config.smtp, {
    hostname: "::1",
    port: 2525,
    url: "smtp://[::1]:2525",
    from: "notify@securepay.test",
    addressTemplate: "{owner}@example.test",
    timeoutMs: 3000,
  });
  assert.equal(
    parseNotificationConfig({ ...BASE, SMTP_URL: "smtp://relay", SMTP_FROM: "a@b", NOTIFY_EMAIL_TEMPLATE: "{owner}@b" })
      .smtp?.port,
    25,
  );
});

Deno.test("parseNotificationConfig() refuses SMTP credentials without echoing the password", () => {
  assert.throws(
    () =>
      parseNotificationConfig({
        ...BASE,
        SMTP_URL: "smtp://mailer:hunter2@relay:25",
        SMTP_FROM: "notify@securepay.test",
        NOTIFY_EMAIL_TEMPLATE: "{owner}@example.test",
      }),
    (error: Error) => {
      assert.match(error.message, /SMTP_URL must not carry credentials/);
      assert.doesNotMatch(error.message, /hunter2/);
      return true;
    },
  );
});

Deno.test("parseNotificationConfig() refuses address templates without exactly one {owner} and SMTP settings without SMTP_URL", () => {
  for (const template of ["notify@example.test", "{owner}{owner}@example.test", "{owner} @example.test", "{owner}"]) {
    assert.throws(
      () =>
        parseNotificationConfig({
          ...BASE,
          SMTP_URL: "smtp://relay:25",
          SMTP_FROM: "a@b",
          NOTIFY_EMAIL_TEMPLATE: template,
        }),
      /NOTIFY_EMAIL_TEMPLATE must/,
      template,
    );
  }
  assert.throws(() => parseNotificationConfig({ ...BASE, SMTP_FROM: "a@b" }), /SMTP_FROM is set but SMTP_URL is not/);
});
