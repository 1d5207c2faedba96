import assert from "node:assert/strict";
import { amountProblem, isCurrency, MAX_AMOUNT_MINOR } from "./money.ts";

Deno.test("amountProblem() accepts positive integers up to the maximum only", () => {
  assert.equal(amountProblem(1), undefined);
  assert.equal(amountProblem(MAX_AMOUNT_MINOR), undefined);
  for (const bad of [0, -1, 1.5, MAX_AMOUNT_MINOR + 1, "100", null, Number.NaN, Infinity]) {
    assert.notEqual(amountProblem(bad), undefined, String(bad));
  }
});

Deno.test("isCurrency() knows ISO codes and nothing else", () => {
  assert.ok(isCurrency("EUR"));
  assert.ok(isCurrency("JPY"));
  for (const bad of ["eur", "XXX", "EURO", "", 978]) assert.ok(!isCurrency(bad), String(bad));
});
