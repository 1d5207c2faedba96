/**
 * One plain-text template per event type and recipient. The payer hears of
 * every outcome; the payee only when money arrived (completed) or was taken
 * back (refunded).
 */

import { formatAmount } from "./money_format.ts";
import type { Notification, NotifiedTopic, PaymentEvent, RecipientRole } from "./notification.ts";

interface Template {
  subject(e: PaymentEvent, amount: string): string;
  lines(e: PaymentEvent, amount: string): string[];
}

const REASONS: Readonly<Record<string, string>> = {
  insufficient_funds: "the paying account has insufficient funds",
  account_closed: "one of the accounts is closed",
  currency_mismatch: "the accounts hold different currencies",
  account_not_found: "one of the accounts does not exist",
};

function reasonText(code: string): string {
  if (code === "") return "for a reason the system did not give";
  return REASONS[code] ?? `reason code ${code}`;
}

const TEMPLATES: { readonly [T in NotifiedTopic]: Partial<Record<RecipientRole, Template>> } = {
  "payment.completed": {
    payer: {
      subject: (_, amount) => `Payment sent: ${amount}`,
      lines: (e, amount) => [
        `Your payment of ${amount} from account ${e.fromAccount} to account ${e.toAccount} has completed.`,
      ],
    },
    payee: {
      subject: (_, amount) => `Payment received: ${amount}`,
      lines: (e, amount) => [`You received ${amount} into account ${e.toAccount} from account ${e.fromAccount}.`],
    },
  },
  "payment.failed": {
    payer: {
      subject: (_, amount) => `Payment failed: ${amount}`,
      lines: (e, amount) => [
        `Your payment of ${amount} from account ${e.fromAccount} to account ${e.toAccount} failed: ` +
        `${reasonText(e.reason)}.`,
        "No money was moved.",
      ],
    },
  },
  "payment.refunded": {
    payer: {
      subject: (_, amount) => `Refund received: ${amount}`,
      lines: (e, amount) => [
        `Your payment of ${amount} to account ${e.toAccount} was refunded: ${amount} is back in account ` +
        `${e.fromAccount}.`,
      ],
    },
    payee: {
      subject: (_, amount) => `Payment refunded: ${amount}`,
      lines: (e, amount) => [
        `The payment of ${amount} you received from account ${e.fromAccount} was refunded: ${amount} was ` +
        `taken back from account ${e.toAccount}.`,
      ],
    },
  },
  "payment.refund.failed": {
    payer: {
      subject: (_, amount) => `Refund failed: ${amount}`,
      lines: (e, amount) => [
        `The refund of your payment of ${amount} to account ${e.toAccount} could not be made: ` +
        `${reasonText(e.reason)}.`,
        "The payment stays completed.",
      ],
    },
  },
};

const ROLES: readonly RecipientRole[] = ["payer", "payee"];

/** The notices of one event, payer first. */
export function renderNotifications(event: PaymentEvent): Notification[] {
  const amount = formatAmount(event.amountMinor, event.currency);
  const templates = TEMPLATES[event.type];
  const notices: Notification[] = [];
  for (const role of ROLES) {
    const template = templates[role];
    if (!template) continue;
    const ownerId = role === "payer" ? event.payerOwnerId : event.payeeOwnerId;
    if (ownerId === "") throw new TypeError(`Cannot render ${event.type} as the ${role}'s owner is unknown`);
    notices.push({
      eventId: event.id,
      eventType: event.type,
      paymentId: event.paymentId,
      role,
      ownerId,
      subject: template.subject(event, amount),
      body: [
        ...template.lines(event, amount),
        "",
        `Payment: ${event.paymentId}`,
        `Time: ${event.occurredAt}`,
        "",
        "SecurePay",
      ].join("\n"),
    });
  }
  return notices;
}

/** The roles an event type notifies, so validation can demand their owner ids. */
export function recipientRoles(type: NotifiedTopic): RecipientRole[] {
  return ROLES.filter((role) => TEMPLATES[type][role] !== undefined);
}
