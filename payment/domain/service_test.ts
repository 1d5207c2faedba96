/**
 * The payment core against the real PostgreSQL store, with a stand-in for
 * AccountService that answers from a table, so that each account rule can
 * be met on purpose.
 */

import assert from "node:assert/strict";
import { AppError, type ErrorCode } from "@securepay/shared";
import { postgresPaymentStore } from "../store/postgres_payment_store.ts";
import { createPaymentDatabase } from "../tests/_database.ts";
import type { InitiatePaymentInput } from "./payment.ts";
import type { AccountSnapshot, AccountsPort, RequestContext } from "./ports.ts";
import { createPaymentService } from "./service.ts";

const PAYER = "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a01";
const PAYEE = "7d1a0c4e-2a8e-4a2b-9a51-0a4c3f9f0a02";
const context: RequestContext = { requestId: "req-1", authorization: "Bearer t" };

function accountsOf(list: AccountSnapshot[], seen: RequestContext[] = []): AccountsPort {
  const find = (id: string, context: RequestContext) => {
    seen.push(context);
    const account = list.find((a) => a.id === id);
    if (!account) throw new AppError("not_found", "Account not found");
    return account;
  };
  return {
    getAccount: (id, context) => Promise.resolve().then(() => find(id, context)),
    checkFunds: (check, context) =>
      Promise.resolve().then(() => {
        const account = find(check.accountId, context);
        return { sufficient: account.balanceMinor >= check.amountMinor, account };
      }),
  };
}

const open = (id: string, ownerId: string, balanceMinor = 10_000, currency = "EUR"): AccountSnapshot => ({
  id,
  ownerId,
  currency,
  balanceMinor,
  status: "OPEN",
});

const request = (overrides: Partial<InitiatePaymentInput> = {}): InitiatePaymentInput => ({
  principal: "alice",
  idempotencyKey: "key-1",
  fromAccount: PAYER,
  toAccount: PAYEE,
  amountMinor: 1050,
  currency: "EUR",
  description: "rent",
  ...overrides,
});

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, (e) => {
    assert.ok(e instanceof AppError, String(e));
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  });
}

async function counts(sql: (strings: TemplateStringsArray) => Promise<unknown>) {
  const [row] = await sql`
    select (select count(*) from payments.transactions) as transactions,
           (select count(*) from payments.outbox) as outbox` as { transactions: number; outbox: number }[];
  return { ...row! };
}

Deno.test("initiatePayment() accepts a payment as PENDING with both owners and forwards the caller's context", async () => {
  await using database = await createPaymentDatabase();
  const seen: RequestContext[] = [];
  const service = createPaymentService({
    store: postgresPaymentStore(database.db.sql),
    accounts: accountsOf([open(PAYER, "alice"), open(PAYEE, "bob")], seen),
    clock: () => new Date("2025-03-04T05:06:07.089Z"),
  });
  const { payment, replayed } = await service.initiatePayment(request({ fromAccount: PAYER.toUpperCase() }), context);
  assert.equal(replayed, false);
  assert.equal(payment.status, "PENDING");
  assert.equal(payment.fromAccount, PAYER);
  assert.equal(payment.payerOwnerId, "alice");
  assert.equal(payment.payeeOwnerId, "bob");
  assert.equal(payment.createdAt, "2025-03-04T05:06:07.089Z");
  assert.deepEqual(await service.getPayment(payment.id), payment);
  assert.deepEqual(seen, [context, context]);
  assert.deepEqual(await counts(database.db.sql), { transactions: 1, outbox: 1 });
});

Deno.test("initiatePayment() replays the stored payment for a repeated key and refuses a different request", async () => {
  await using database = await createPaymentDatabase();
  const service = createPaymentService({
    store: postgresPaymentStore(database.db.sql),
    accounts: accountsOf([open(PAYER, "alice"), open(PAYEE, "bob")]),
  });
  const first = await service.initiatePayment(request(), context);
  const again = await service.initiatePayment(request(), context);
  assert.deepEqual(again, { payment: first.payment, replayed: true });
  await rejectsWith(service.initiatePayment(request({ amountMinor: 1 }), context), "idempotency_key_reused");
  await rejectsWith(service.initiatePayment(request({ description: "" }), context), "idempotency_key_reused");
  // The key is scoped to the principal: bob's "key-1", from an account of his, is another payment.
  const asBob = createPaymentService({
    store: postgresPaymentStore(database.db.sql),
    accounts: accountsOf([open(PAYER, "bob"), open(PAYEE, "alice")]),
  });
  const bobs = await asBob.initiatePayment(request({ principal: "bob" }), context);
  assert.notEqual(bobs.payment.id, first.payment.id);
  assert.deepEqual(await counts(database.db.sql), { transactions: 2, outbox: 2 });
});

Deno.test("initiatePayment() applies the account rules in a fixed order and stores nothing when one fails", async () => {
  await using database = await createPaymentDatabase();
  const store = postgresPaymentStore(database.db.sql);
  const cases: [AccountSnapshot[], ErrorCode, RegExp][] = [
    [[open(PAYEE, "bob")], "not_found", /from_account/],
    [[open(PAYER, "alice")], "not_found", /to_account/],
    [[], "not_found", /from_account/],
    [[{ ...open(PAYER, "alice", 0), status: "CLOSED" }, open(PAYEE, "bob")], "account_closed", /from_account/],
    [[open(PAYER, "alice", 0), { ...open(PAYEE, "bob"), status: "CLOSED" }], "account_closed", /to_account/],
    [[open(PAYER, "alice", 0, "USD"), open(PAYEE, "bob")], "currency_mismatch", /from_account/],
    [[open(PAYER, "alice", 0), open(PAYEE, "bob", 0, "USD")], "currency_mismatch", /to_account/],
    [[open(PAYER, "alice", 1049), open(PAYEE, "bob")], "insufficient_funds", /from_account/],
  ];
  for (const [accounts, code, message] of cases) {
    const service = createPaymentService({ store, accounts: accountsOf(accounts) });
    await rejectsWith(service.initiatePayment(request(), context), code, message);
  }
  // Nobody but the owner pays from an account, whatever the gateway let through.
  const foreign = createPaymentService({
    store,
    accounts: accountsOf([open(PAYER, "mallory", 5000), open(PAYEE, "b")]),
  });
  await rejectsWith(foreign.initiatePayment(request(), context), "forbidden", /owner of from_account/);
  const service = createPaymentService({
    store,
    accounts: accountsOf([open(PAYER, "alice", 1050), open(PAYEE, "b")]),
  });
  assert.equal((await service.initiatePayment(request(), context)).payment.amountMinor, 1050);
  assert.deepEqual(await counts(database.db.sql), { transactions: 1, outbox: 1 });
});

Deno.test("initiatePayment() rejects invalid input before asking anyone", async () => {
  await using database = await createPaymentDatabase();
  let asked = 0;
  const accounts: AccountsPort = {
    getAccount: () => Promise.reject(new Error(`asked ${++asked}`)),
    checkFunds: () => Promise.reject(new Error(`asked ${++asked}`)),
  };
  const service = createPaymentService({ store: postgresPaymentStore(database.db.sql), accounts });
  for (
    const bad of [{ toAccount: PAYER }, { amountMinor: 0 }, { currency: "ABC" }, { idempotencyKey: "" }, {
      principal: "",
    }]
  ) {
    await rejectsWith(service.initiatePayment(request(bad), context), "validation_error");
  }
  assert.equal(asked, 0);
  assert.deepEqual(await counts(database.db.sql), { transactions: 0, outbox: 0 });
});

Deno.test("initiatePayment() answers concurrent duplicates with the one payment that won", async () => {
  await using database = await createPaymentDatabase();
  const service = createPaymentService({
    store: postgresPaymentStore(database.db.sql),
    accounts: accountsOf([open(PAYER, "alice"), open(PAYEE, "bob")]),
  });
  const results = await Promise.all(Array.from({ length: 10 }, () => service.initiatePayment(request(), context)));
  assert.equal(new Set(results.map((r) => r.payment.id)).size, 1);
  assert.equal(results.filter((r) => !r.replayed).length, 1);
  assert.deepEqual(await counts(database.db.sql), { transactions: 1, outbox: 1 });
});

Deno.test("getPayment() and listPayments() reject malformed ids and cursors", async () => {
  await using database = await createPaymentDatabase();
  const service = createPaymentService({ store: postgresPaymentStore(database.db.sql), accounts: accountsOf([]) });
  await rejectsWith(service.getPayment("nope"), "validation_error");
  await rejectsWith(service.getPayment(crypto.randomUUID()), "not_found");
  await rejectsWith(service.listPayments({ accountId: "nope" }), "validation_error");
  await rejectsWith(service.listPayments({ cursor: "!!" }), "validation_error");
  await rejectsWith(service.listPayments({ cursor: "WyJ4IiwieSJd" }), "validation_error");
  await rejectsWith(service.listPayments({ limit: -1 }), "validation_error");
  assert.deepEqual(await service.listPayments({}), { payments: [], nextCursor: null });
});
