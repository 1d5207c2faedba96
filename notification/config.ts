/** Configuration of the notification program, from the environment only. */

import { type Env, envReader, LOG_LEVELS, type LogLevel, redactUrl } from "@securepay/shared";
import { isMailAddress } from "./senders/smtp_client.ts";
import { addressTemplateProblem } from "./senders/smtp_sender.ts";

export interface SmtpConfig {
  readonly hostname: string;
  readonly port: number;
  /** SMTP_URL for logs (it never carries credentials, but logs still get the redacted form). */
  readonly url: string;
  readonly from: string;
  /** Recipient address template with `{owner}`. */
  readonly addressTemplate: string;
  /** Bound on one whole SMTP conversation. */
  readonly timeoutMs: number;
}

export interface NotificationConfig {
  readonly adminHost: string;
  readonly adminPort: number;
  readonly databaseUrl: string;
  readonly databasePoolMax: number;
  /** Off for poolers and the embedded dev server, which multiplex one session. */
  readonly databasePreparedStatements: boolean;
  /** Bootstrap brokers; undefined runs the admin endpoints only (no events are consumed). */
  readonly kafkaBrokers: readonly string[] | undefined;
  /** How long the group waits for a silent member (a killed one) before handing its partitions on. */
  readonly kafkaSessionTimeoutMs: number;
  /** The SMTP channel; undefined sends notices to the log. */
  readonly smtp: SmtpConfig | undefined;
  readonly logLevel: LogLevel;
  readonly shutdownTimeoutMs: number;
}

const SMTP_PORT_DEFAULT = 25;

/** Parses the environment, reporting every bad variable at once. */
export function parseNotificationConfig(env: Env): NotificationConfig {
  const r = envReader(env);
  const kafkaBrokers = r.optional("KAFKA_BROKERS") === undefined ? undefined : r.list("KAFKA_BROKERS", []);
  for (const broker of kafkaBrokers ?? []) {
    if (!/^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/.test(broker)) {
      r.problem(`KAFKA_BROKERS must be a comma-separated list of host:port, got "${broker.slice(0, 64)}"`);
    }
  }
  const config: NotificationConfig = {
    adminHost: r.string("ADMIN_HOST", "0.0.0.0"),
    adminPort: r.port("ADMIN_PORT", 8083),
    databaseUrl: r.url("DATABASE_URL", { protocols: ["postgres", "postgresql"] }),
    databasePoolMax: r.int("DATABASE_POOL_MAX", 10, { min: 1, max: 100 }),
    databasePreparedStatements: r.bool("DATABASE_PREPARED_STATEMENTS", true),
    kafkaBrokers,
    kafkaSessionTimeoutMs: r.int("KAFKA_SESSION_TIMEOUT_MS", 30_000, { min: 6_000, max: 300_000 }),
    smtp: parseSmtp(r),
    logLevel: r.oneOf("LOG_LEVEL", LOG_LEVELS, "info"),
    shutdownTimeoutMs: r.int("SHUTDOWN_TIMEOUT_MS", 10_000, { min: 100, max: 120_000 }),
  };
  r.done();
  return config;
}

function parseSmtp(r: ReturnType<typeof envReader>): SmtpConfig | undefined {
  const url = r.optionalUrl("SMTP_URL", { protocols: ["smtp"] });
  const from = r.optional("SMTP_FROM");
  const addressTemplate = r.optional("NOTIFY_EMAIL_TEMPLATE");
  const timeoutMs = r.int("SMTP_TIMEOUT_MS", 10_000, { min: 100, max: 120_000 });
  if (r.optional("SMTP_URL") === undefined) {
    if (from !== undefined) r.problem("SMTP_FROM is set but SMTP_URL is not");
    if (addressTemplate !== undefined) r.problem("NOTIFY_EMAIL_TEMPLATE is set but SMTP_URL is not");
    return undefined;
  }
  if (from === undefined) r.problem("SMTP_FROM is required when SMTP_URL is set");
  else if (!isMailAddress(from)) r.problem(`SMTP_FROM must be a plain address like notify@example.test`);
  if (addressTemplate === undefined) {
    r.problem("NOTIFY_EMAIL_TEMPLATE is required when SMTP_URL is set, e.g. {owner}@example.test");
  } else {
    const problem = addressTemplateProblem(addressTemplate);
    if (problem) r.problem(`NOTIFY_EMAIL_TEMPLATE ${problem}`);
  }
  if (url === undefined) return undefined;
  const parsed = new URL(url);
  // The client has no TLS, so it must never send a password; refusing one keeps it out of logs as well.
  if (parsed.username !== "" || parsed.password !== "") {
    r.problem("SMTP_URL must not carry credentials: this client does not authenticate (no TLS)");
  }
  if ((parsed.pathname !== "" && parsed.pathname !== "/") || parsed.search !== "" || parsed.hash !== "") {
    r.problem(`SMTP_URL must be smtp://host:port, got "${redactUrl(url)}"`);
  }
  if (parsed.hostname === "") r.problem("SMTP_URL must name a host");
  return {
    hostname: parsed.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: parsed.port === "" ? SMTP_PORT_DEFAULT : Number(parsed.port),
    url: redactUrl(url),
    from: from ?? "",
    addressTemplate: addressTemplate ?? "",
    timeoutMs,
  };
}
