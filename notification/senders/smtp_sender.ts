/**
 * The SMTP channel: renders a notice as a plain-text e-mail and hands it to
 * the configured relay. Events carry owner ids, not addresses, so the
 * recipient comes from a template (`NOTIFY_EMAIL_TEMPLATE`, e.g.
 * `{owner}@example.test`) in which `{owner}` is the owner id with every
 * character other than A-Z, a-z, 0-9, "_" and "-" written as "=XX" per
 * UTF-8 byte ("auth0|42" → "auth0=7C42"), so any id yields a valid address
 * and nothing from an event can reach the SMTP command line.
 */

import {
  DeliveryUnknownError,
  type Notification,
  type NotificationSender,
  UndeliverableError,
} from "../domain/notification.ts";
import { isMailAddress, sendMail, SmtpError } from "./smtp_client.ts";

export interface SmtpSenderOptions {
  readonly hostname: string;
  readonly port: number;
  readonly from: string;
  /** Contains `{owner}` exactly once. */
  readonly addressTemplate: string;
  /** Bound on one whole SMTP conversation. */
  readonly timeoutMs: number;
  readonly heloName: string;
  /** Clock for the Date header. */
  readonly now?: () => Date;
}

export const OWNER_PLACEHOLDER = "{owner}";

/** The owner id as it appears inside an address. */
export function encodeOwner(ownerId: string): string {
  let out = "";
  for (const char of ownerId) {
    if (/^[A-Za-z0-9_-]$/.test(char)) {
      out += char;
      continue;
    }
    for (const byte of new TextEncoder().encode(char)) out += "=" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** The recipient address of an owner, or a TypeError when the result is not a plain address. */
export function addressFor(template: string, ownerId: string): string {
  const address = template.replace(OWNER_PLACEHOLDER, encodeOwner(ownerId));
  if (!isMailAddress(address)) {
    throw new TypeError(`Cannot address a notice as the template gives no plain address for this owner`);
  }
  return address;
}

/** Problems with an address template, for configuration checks. */
export function addressTemplateProblem(template: string): string | undefined {
  if (template.split(OWNER_PLACEHOLDER).length !== 2) return `must contain ${OWNER_PLACEHOLDER} exactly once`;
  if (!isMailAddress(template.replace(OWNER_PLACEHOLDER, "owner"))) return "must give an address like {owner}@host";
  return undefined;
}

export function smtpSender(options: SmtpSenderOptions): NotificationSender {
  const now = options.now ?? (() => new Date());
  return {
    channel: "smtp",
    sendTimeoutMs: options.timeoutMs,
    async send(notice) {
      let to;
      try {
        to = addressFor(options.addressTemplate, notice.ownerId);
      } catch (error) {
        throw new UndeliverableError("Cannot send mail as the owner id gives no valid address", { cause: error });
      }
      const data = renderMessage(notice, { from: options.from, to, date: now() });
      try {
        await sendMail(
          { hostname: options.hostname, port: options.port, timeoutMs: options.timeoutMs, heloName: options.heloName },
          { from: options.from, to, data },
        );
      } catch (error) {
        if (error instanceof SmtpError && error.delivered === "unknown") {
          throw new DeliveryUnknownError(error.message, { cause: error });
        }
        // 5xx is SMTP's "do not repeat this"; 4xx and lost connections are worth another try.
        if (error instanceof SmtpError && error.replyCode !== undefined && error.replyCode >= 500) {
          throw new UndeliverableError(error.message, { cause: error });
        }
        throw error;
      }
    },
  };
}

/**
 * The RFC 5322 message of a notice: 7-bit clean (encoded-word subject,
 * base64 body), with a Message-ID derived from the event and recipient so
 * that mail systems can recognise a copy as the same message.
 */
export function renderMessage(notice: Notification, envelope: { from: string; to: string; date: Date }): string {
  const headers = [
    `From: ${envelope.from}`,
    `To: ${envelope.to}`,
    `Subject: ${encodeHeaderText(notice.subject)}`,
    `Date: ${envelope.date.toUTCString()}`,
    `Message-ID: <${notice.eventId}.${notice.role}@notification.securepay>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: base64",
    `X-SecurePay-Event-Id: ${notice.eventId}`,
    `X-SecurePay-Event-Type: ${notice.eventType}`,
  ];
  const body = base64(new TextEncoder().encode(notice.body.replace(/\r?\n/g, "\r\n")));
  const lines = body.match(/.{1,76}/g) ?? [];
  return [...headers, "", ...lines, ""].join("\r\n");
}

/** ASCII text as is; anything else as RFC 2047 UTF-8 encoded words of at most 75 characters each. */
export function encodeHeaderText(text: string): string {
  if (/^[\x20-\x7e]*$/.test(text)) return text;
  const encoder = new TextEncoder();
  const words: string[] = [];
  let chunk: number[] = [];
  const flush = () => {
    if (chunk.length > 0) words.push(`=?UTF-8?B?${base64(new Uint8Array(chunk))}?=`);
    chunk = [];
  };
  for (const char of text.replace(/[\r\n]/g, " ")) {
    const bytes = encoder.encode(char);
    // 45 bytes encode to 60 base64 characters, which with "=?UTF-8?B?" and "?=" stays within 75.
    if (chunk.length + bytes.length > 45) flush();
    chunk.push(...bytes);
  }
  flush();
  return words.join("\r\n ");
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}
