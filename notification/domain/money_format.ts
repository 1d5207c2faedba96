/**
 * Formats an amount of minor units for people ("€10.50", "¥1,050"). Only
 * integer arithmetic touches the amount: the major and minor parts come
 * from BigInt division by 10^digits, never from a float.
 */

import { CURRENCIES, isCurrency } from "@securepay/shared";

/** Symbols printed before the amount; other currencies print their code and a space ("CHF 10.50"). */
const SYMBOLS: Readonly<Record<string, string>> = {
  EUR: "€",
  GBP: "£",
  USD: "$",
  JPY: "¥",
  KRW: "₩",
  INR: "₹",
};

export function formatAmount(amountMinor: number, currency: string): string {
  if (!Number.isSafeInteger(amountMinor)) {
    throw new RangeError(`Cannot format an amount as it is not a safe integer: ${amountMinor}`);
  }
  if (!isCurrency(currency)) throw new RangeError(`Cannot format an amount as the currency is unknown: ${currency}`);
  const digits = CURRENCIES[currency]!;
  const negative = amountMinor < 0;
  const minor = BigInt(negative ? -amountMinor : amountMinor);
  const scale = 10n ** BigInt(digits);
  const major = groupThousands((minor / scale).toString());
  const fraction = digits === 0 ? "" : "." + (minor % scale).toString().padStart(digits, "0");
  const prefix = SYMBOLS[currency] ?? `${currency} `;
  return `${negative ? "-" : ""}${prefix}${major}${fraction}`;
}

function groupThousands(integerDigits: string): string {
  return integerDigits.replace(/\B(?=(\d{3})+$)/g, ",");
}
