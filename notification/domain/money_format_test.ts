import assert from "node:assert/strict";
import { formatAmount } from "./money_format.ts";

Deno.test("formatAmount() uses two minor digits for EUR", () => {
  assert.equal(formatAmount(1050, "EUR"), "€10.50");
  assert.equal(formatAmount(1, "EUR"), "€0.01");
  assert.equal(formatAmount(100, "EUR"), "€1.00");
  assert.equal(formatAmount(123456789, "EUR"), "€1,234,567.89");
});

Deno.test("formatAmount() prints JPY without a fraction", () => {
  assert.equal(formatAmount(1050, "JPY"), "¥1,050");
  assert.equal(formatAmount(7, "JPY"), "¥7");
});

Deno.test("formatAmount() prints the code of currencies without a symbol", () => {
  assert.equal(formatAmount(250, "CHF"), "CHF 2.50");
});

Deno.test("formatAmount() is exact at the largest amount, where floats would round", () => {
  assert.equal(formatAmount(1_000_000_000_000, "EUR"), "€10,000,000,000.00");
  assert.equal(formatAmount(Number.MAX_SAFE_INTEGER, "USD"), "$90,071,992,547,409.91");
});

Deno.test("formatAmount() refuses fractions and unknown currencies", () => {
  assert.throws(() => formatAmount(10.5, "EUR"), RangeError);
  assert.throws(() => formatAmount(10, "XXX"), RangeError);
});
