import assert from "node:assert/strict";
import { AppError } from "@securepay/shared";
import type { Account } from "./account.ts";
import { depositFingerprint, hasSufficientFunds, idempotencyKeyProblem, IssueList, ownerIdProblem } from "./rules.ts";

const account: Account = {
  id: "5f0c5e4e-8f0e-4c1a-9d55-0d6f5c7a1b2c",
  ownerId: "alice",
  currency: "EUR",
  balance: 1000,
  version: 3,
  status: "OPEN",
  createdAt: new Date(0),
  updatedAt: new Date(0),
};

Deno.test("ownerIdProblem() accepts 1-255 characters and rejects empty, long, padded or control text", () => {
  assert.equal(ownerIdProblem("alice"), undefined);
  assert.equal(ownerIdProblem("a".repeat(255)), undefined);
  assert.match(ownerIdProblem("")!, /empty/);
  assert.match(ownerIdProblem("a".repeat(256))!, /at most 255/);
  assert.match(ownerIdProblem(" alice")!, /white space/);
  assert.match(ownerIdProblem("al\u0000ice")!, /control/);
});

Deno.test("idempotencyKeyProblem() accepts 1-255 printable ASCII characters only", () => {
  assert.equal(idempotencyKeyProblem("k"), undefined);
  assert.equal(idempotencyKeyProblem("order 42/~!"), undefined);
  assert.equal(idempotencyKeyProblem("x".repeat(255)), undefined);
  assert.match(idempotencyKeyProblem("")!, /empty/);
  assert.match(idempotencyKeyProblem("x".repeat(256))!, /at most 255/);
  assert.match(idempotencyKeyProblem("clé")!, /printable ASCII/);
  assert.match(idempotencyKeyProblem("a\tb")!, /printable ASCII/);
});

Deno.test("hasSufficientFunds() compares the balance with the amount", () => {
  assert.equal(hasSufficientFunds(account, { amount: 1000, currency: "EUR" }), true);
  assert.equal(hasSufficientFunds(account, { amount: 1001, currency: "EUR" }), false);
});

Deno.test("hasSufficientFunds() refuses another currency and a closed account", () => {
  assert.throws(
    () => hasSufficientFunds(account, { amount: 1, currency: "USD" }),
    (e: unknown) => e instanceof AppError && e.code === "currency_mismatch",
  );
  assert.throws(
    () => hasSufficientFunds({ ...account, status: "CLOSED" }, { amount: 1, currency: "EUR" }),
    (e: unknown) => e instanceof AppError && e.code === "account_closed",
  );
});

Deno.test("depositFingerprint() is stable per request and differs for another account or amount", async () => {
  const a = await depositFingerprint({ accountId: account.id, amount: 100 });
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(await depositFingerprint({ accountId: account.id.toUpperCase(), amount: 100 }), a);
  assert.notEqual(await depositFingerprint({ accountId: account.id, amount: 101 }), a);
  assert.notEqual(await depositFingerprint({ accountId: crypto.randomUUID(), amount: 100 }), a);
});

Deno.test("IssueList.throwIfAny() throws one validation_error listing every issue, and nothing when empty", () => {
  const empty = new IssueList();
  empty.add("a", undefined);
  empty.throwIfAny();
  const list = new IssueList();
  list.add("a", "is bad");
  list.add("b", undefined);
  list.add("c", "is worse");
  assert.throws(() => list.throwIfAny(), (e: unknown) => {
    assert.ok(e instanceof AppError);
    assert.equal(e.code, "validation_error");
    assert.deepEqual(e.issues, [{ field: "a", message: "is bad" }, { field: "c", message: "is worse" }]);
    return true;
  });
});
