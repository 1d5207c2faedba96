import assert from "node:assert/strict";
import { AppError, encodeCursor, MAX_AMOUNT_MINOR } from "@securepay/shared";
import {
  parseCheckFunds,
  parseCreateAccount,
  parseDeposit,
  parseGetAccount,
  parseListAccounts,
  parseListLedgerEntries,
} from "./requests.ts";

const ID = "5F0C5E4E-8F0E-4C1A-9D55-0D6F5C7A1B2C";
const principal = { subject: "admin-1", roles: ["ADMIN"] };

function fields(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    assert.equal(error.code, "validation_error");
    return error.issues.map((i) => i.field);
  }
  assert.fail("expected a validation_error");
}

Deno.test("parseCreateAccount() accepts an owner and a supported currency", () => {
  assert.deepEqual(parseCreateAccount({ ownerId: "alice", currency: "EUR", principal }), {
    ownerId: "alice",
    currency: "EUR",
  });
  assert.deepEqual(parseCreateAccount({ ownerId: "alice", currency: "JPY", principal: undefined }).currency, "JPY");
});

Deno.test("parseCreateAccount() reports a bad owner, currency and principal together", () => {
  assert.deepEqual(
    fields(() => parseCreateAccount({ ownerId: "", currency: "eur", principal: { subject: "", roles: ["ROOT"] } })),
    ["owner_id", "currency", "principal.subject", "principal.roles"],
  );
  assert.deepEqual(fields(() => parseCreateAccount({ ownerId: "x".repeat(256), currency: "XXX", principal })), [
    "owner_id",
    "currency",
  ]);
});

Deno.test("parseGetAccount() lower-cases a UUID and rejects anything else", () => {
  assert.deepEqual(parseGetAccount({ id: ID }), { id: ID.toLowerCase() });
  assert.deepEqual(fields(() => parseGetAccount({ id: "" })), ["id"]);
  assert.deepEqual(fields(() => parseGetAccount({ id: "not-a-uuid" })), ["id"]);
  assert.deepEqual(fields(() => parseGetAccount({ id: `${ID}' or 1=1 --` })), ["id"]);
});

Deno.test("parseListAccounts() defaults the limit, filters by owner and decodes its cursor", () => {
  assert.deepEqual(parseListAccounts({ ownerId: "", limit: 0, cursor: "" }), {
    limit: 20,
    after: undefined,
    ownerId: undefined,
  });
  const cursor = { after: "1735787045678901", id: ID.toLowerCase() };
  assert.deepEqual(parseListAccounts({ ownerId: "bob", limit: 100, cursor: encodeCursor(cursor) }), {
    limit: 100,
    after: cursor,
    ownerId: "bob",
  });
});

Deno.test("parseListAccounts() rejects a negative or oversized limit and foreign cursors", () => {
  assert.deepEqual(fields(() => parseListAccounts({ ownerId: "", limit: -1, cursor: "" })), ["limit"]);
  assert.deepEqual(fields(() => parseListAccounts({ ownerId: "", limit: 101, cursor: "" })), ["limit"]);
  for (
    const cursor of [
      "!!!",
      "bm90LWpzb24",
      encodeCursor({ after: "yesterday", id: ID }),
      encodeCursor({ after: "1735787045678901", id: "42" }),
      encodeCursor({ after: "-1", id: ID }),
    ]
  ) {
    assert.deepEqual(fields(() => parseListAccounts({ ownerId: "", limit: 5, cursor })), ["cursor"], cursor);
  }
});

Deno.test("parseListLedgerEntries() requires a UUID account id", () => {
  assert.equal(parseListLedgerEntries({ accountId: ID, limit: 3, cursor: "" }).accountId, ID.toLowerCase());
  assert.deepEqual(fields(() => parseListLedgerEntries({ accountId: "x", limit: 3, cursor: "" })), ["account_id"]);
});

Deno.test("parseCheckFunds() rejects non-positive, fractional and oversized amounts", () => {
  assert.deepEqual(parseCheckFunds({ accountId: ID, amount: 5, currency: "EUR" }), {
    accountId: ID.toLowerCase(),
    amount: 5,
    currency: "EUR",
  });
  for (const amount of [0, -1, 1.5, MAX_AMOUNT_MINOR + 1]) {
    assert.deepEqual(fields(() => parseCheckFunds({ accountId: ID, amount, currency: "EUR" })), ["amount"]);
  }
  assert.deepEqual(fields(() => parseCheckFunds({ accountId: "", amount: 1, currency: "" })), [
    "account_id",
    "currency",
  ]);
});

Deno.test("parseDeposit() requires a principal and a printable Idempotency-Key of 1-255 characters", () => {
  assert.deepEqual(parseDeposit({ accountId: ID, amount: MAX_AMOUNT_MINOR, idempotencyKey: "k-1", principal }), {
    accountId: ID.toLowerCase(),
    amount: MAX_AMOUNT_MINOR,
    idempotencyKey: "k-1",
    principal: "admin-1",
  });
  assert.deepEqual(
    fields(() => parseDeposit({ accountId: ID, amount: 1, idempotencyKey: "", principal: undefined })),
    ["idempotency_key", "principal"],
  );
  assert.deepEqual(
    fields(() => parseDeposit({ accountId: ID, amount: 1, idempotencyKey: "k".repeat(256), principal })),
    ["idempotency_key"],
  );
  assert.deepEqual(
    fields(() =>
      parseDeposit({ accountId: ID, amount: 1, idempotencyKey: "k\n", principal: { subject: "", roles: [] } })
    ),
    ["idempotency_key", "principal.subject"],
  );
});

Deno.test("parseDeposit() refuses anyone but an ADMIN, whatever the caller let through", () => {
  for (const roles of [[], ["USER"], ["SUPPORT", "AUDITOR"]]) {
    assert.throws(
      () => parseDeposit({ accountId: ID, amount: 1, idempotencyKey: "k", principal: { subject: "mallory", roles } }),
      (error: unknown) => error instanceof AppError && error.code === "forbidden",
      roles.join(","),
    );
  }
});
