/**
 * Money is an integer count of minor units of an ISO 4217 currency; there
 * are no floats anywhere on the money path.
 */

/** The currencies SecurePay accepts, with their number of minor-unit digits. */
export const CURRENCIES: Readonly<Record<string, number>> = Object.freeze({
  AUD: 2,
  CAD: 2,
  CHF: 2,
  CNY: 2,
  CZK: 2,
  DKK: 2,
  EUR: 2,
  GBP: 2,
  HKD: 2,
  HUF: 2,
  INR: 2,
  JPY: 0,
  KRW: 0,
  MXN: 2,
  NOK: 2,
  NZD: 2,
  PLN: 2,
  SEK: 2,
  SGD: 2,
  USD: 2,
  ZAR: 2,
});

/**
 * The largest amount of one payment or deposit: 10^12 minor units. Far above
 * any real transfer, and small enough that no sum of balances in tests or
 * production can leave the safe-integer range.
 */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000;

export function isCurrency(value: unknown): value is string {
  return typeof value === "string" && Object.hasOwn(CURRENCIES, value);
}

/** A problem with an amount, or undefined when it is a valid positive amount. */
export function amountProblem(value: unknown): string | undefined {
  if (typeof value !== "number") return "must be an integer number of minor units";
  if (!Number.isInteger(value)) return "must be an integer number of minor units, not a fraction";
  if (value <= 0) return "must be greater than 0";
  if (value > MAX_AMOUNT_MINOR) return `must be at most ${MAX_AMOUNT_MINOR}`;
  return undefined;
}
