/**
 * Component tests of AccountService: the service runs in-process on a fresh
 * PostgreSQL database and every call goes over a real gRPC connection, so
 * they prove the wire contract, the error codes and the money invariants
 * together.
 */

import assert from "node:assert/strict";
import { credentials, Metadata, status as GrpcStatus } from "@grpc/grpc-js";
import { AppError, callUnary, ERROR_CODE_METADATA, MAX_AMOUNT_MINOR } from "@securepay/shared";
import {
  type Account,
  AccountServiceClient,
  AccountStatus,
  LedgerEntryKind,
  type Principal,
} from "@securepay/shared/gen/account";
import { HealthCheckResponse_ServingStatus, HealthClient } from "@securepay/shared/gen/health";
import { type Fixture, startFixture } from "./_fixture.ts";

const admin: Principal = { subject: "admin-1", roles: ["ADMIN"] };

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    return error;
  }
  assert.fail("expected the call to fail");
}

function createAccount(f: Fixture, ownerId = "alice", currency = "EUR"): Promise<Account> {
  return callUnary(f.client, f.client.createAccount, { ownerId, currency, principal: { subject: ownerId, roles: [] } })
    .then((r) => r.account!);
}

function deposit(f: Fixture, accountId: string, amount: number, idempotencyKey: string, principal = admin) {
  return callUnary(f.client, f.client.deposit, { accountId, amount, idempotencyKey, principal });
}

async function ledgerSum(f: Fixture, accountId: string): Promise<number> {
  const [row] = await f.database.db.sql<{ sum: number }[]>`
    select coalesce(sum(amount), 0)::int8 as sum from accounts.ledger_entries where account_id = ${accountId}`;
  return row!.sum;
}

Deno.test("CreateAccount opens an empty account that GetAccount reads back", async () => {
  await using f = await startFixture();
  const account = await createAccount(f, "alice", "EUR");
  assert.match(account.id, /^[0-9a-f-]{36}$/);
  assert.equal(account.ownerId, "alice");
  assert.equal(account.currency, "EUR");
  assert.equal(account.balance, 0);
  assert.equal(account.version, 0);
  assert.equal(account.status, AccountStatus.ACCOUNT_STATUS_OPEN);
  assert.ok(!Number.isNaN(Date.parse(account.createdAt)));
  assert.equal(account.createdAt, account.updatedAt);

  const read = await callUnary(f.client, f.client.getAccount, { id: account.id.toUpperCase() });
  assert.deepEqual(read.account, account);
});

Deno.test("ListAccounts pages newest first with cursors and filters by owner", async () => {
  await using f = await startFixture();
  const created: Account[] = [];
  for (let i = 0; i < 5; i++) created.push(await createAccount(f, "carol", i % 2 === 0 ? "EUR" : "USD"));
  await createAccount(f, "dave");

  const seen: Account[] = [];
  let cursor = "";
  let pages = 0;
  do {
    const page = await callUnary(f.client, f.client.listAccounts, { ownerId: "carol", limit: 2, cursor });
    assert.ok(page.accounts.length <= 2);
    seen.push(...page.accounts);
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== "" && pages < 10);
  assert.equal(pages, 3);
  assert.deepEqual(seen.map((a) => a.id), created.map((a) => a.id).reverse());

  const all = await callUnary(f.client, f.client.listAccounts, { ownerId: "", limit: 0, cursor: "" });
  assert.equal(all.accounts.length, 6);
  assert.equal(all.nextCursor, "");
  assert.equal(all.accounts[0]!.ownerId, "dave");

  const none = await callUnary(f.client, f.client.listAccounts, { ownerId: "nobody", limit: 10, cursor: "" });
  assert.deepEqual(none, { accounts: [], nextCursor: "" });
});

Deno.test("Deposit raises the balance and writes its ledger entry in the same transaction", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  const first = await deposit(f, account.id, 1050, "dep-1");
  assert.equal(first.replayed, false);
  assert.equal(first.deposit!.accountId, account.id);
  assert.equal(first.deposit!.amount, 1050);
  assert.equal(first.deposit!.currency, "EUR");
  assert.equal(first.account!.balance, 1050);
  assert.equal(first.account!.version, 1);
  const second = await deposit(f, account.id, 200, "dep-2");
  assert.equal(second.account!.balance, 1250);
  assert.equal(second.account!.version, 2);

  const ledger = await callUnary(f.client, f.client.listLedgerEntries, { accountId: account.id, limit: 0, cursor: "" });
  assert.equal(ledger.entries.length, 2);
  const [newest, oldest] = ledger.entries;
  assert.deepEqual(
    { ...oldest!, id: "", createdAt: "" },
    {
      id: "",
      accountId: account.id,
      amount: 1050,
      currency: "EUR",
      kind: LedgerEntryKind.LEDGER_ENTRY_KIND_DEPOSIT,
      paymentId: "",
      depositId: first.deposit!.id,
      balanceAfter: 1050,
      createdAt: "",
    },
  );
  assert.equal(newest!.depositId, second.deposit!.id);
  assert.equal(newest!.balanceAfter, 1250);
  assert.equal(await ledgerSum(f, account.id), 1250);
  const read = await callUnary(f.client, f.client.getAccount, { id: account.id });
  assert.equal(read.account!.balance, 1250);
});

Deno.test("Deposit replays a repeated key and refuses a key reused for another request", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  const other = await createAccount(f, "bob");
  const first = await deposit(f, account.id, 500, "same-key");
  const replay = await deposit(f, account.id, 500, "same-key");
  assert.equal(replay.replayed, true);
  assert.deepEqual(replay.deposit, first.deposit);
  assert.equal(replay.account!.balance, 500);

  const reusedAmount = await rejection(deposit(f, account.id, 501, "same-key"));
  assert.equal(reusedAmount.code, "idempotency_key_reused");
  const reusedAccount = await rejection(deposit(f, other.id, 500, "same-key"));
  assert.equal(reusedAccount.code, "idempotency_key_reused");

  // Keys are scoped to the principal: another admin's same key is a new deposit.
  const another = await deposit(f, account.id, 500, "same-key", { subject: "admin-2", roles: ["ADMIN"] });
  assert.equal(another.replayed, false);
  assert.notEqual(another.deposit!.id, first.deposit!.id);

  const [counts] = await f.database.db.sql<{ deposits: number; entries: number }[]>`
    select (select count(*) from accounts.deposits)::int8 as deposits,
           (select count(*) from accounts.ledger_entries)::int8 as entries`;
  assert.deepEqual({ ...counts }, { deposits: 2, entries: 2 });
  assert.equal(await ledgerSum(f, account.id), 1000);
  assert.equal(await ledgerSum(f, other.id), 0);
});

Deno.test("Deposit books 50 concurrent deposits with distinct keys exactly once each", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  const results = await Promise.all(
    Array.from({ length: 50 }, (_, i) => deposit(f, account.id, i + 1, `concurrent-${i}`)),
  );
  assert.ok(results.every((r) => !r.replayed));
  const expected = (50 * 51) / 2;
  const read = await callUnary(f.client, f.client.getAccount, { id: account.id });
  assert.equal(read.account!.balance, expected);
  assert.equal(read.account!.version, 50);
  assert.equal(await ledgerSum(f, account.id), expected);
  // Each deposit saw a distinct version, so the balances after form one chain.
  const afters = results.map((r) => r.account!.version).sort((a, b) => a - b);
  assert.deepEqual(afters, Array.from({ length: 50 }, (_, i) => i + 1));
});

Deno.test("Deposit books 20 concurrent deposits with the same key exactly once", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  const results = await Promise.all(Array.from({ length: 20 }, () => deposit(f, account.id, 700, "one-key")));
  assert.equal(results.filter((r) => !r.replayed).length, 1);
  assert.equal(new Set(results.map((r) => r.deposit!.id)).size, 1);
  const read = await callUnary(f.client, f.client.getAccount, { id: account.id });
  assert.equal(read.account!.balance, 700);
  assert.equal(read.account!.version, 1);
  assert.equal(await ledgerSum(f, account.id), 700);
});

Deno.test("Deposit refuses to take a balance above the largest safe integer and stores nothing", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  await f.database.db.sql`update accounts.balances set balance = ${
    Number.MAX_SAFE_INTEGER - 10
  } where id = ${account.id}`;
  const error = await rejection(deposit(f, account.id, 11, "too-much"));
  assert.equal(error.code, "validation_error");
  assert.deepEqual(error.issues.map((i) => i.field), ["amount"]);
  const [row] = await f.database.db.sql<{ n: number }[]>`select count(*)::int8 as n from accounts.deposits`;
  assert.equal(row!.n, 0);
});

Deno.test("Deposit refuses a closed account and stores nothing", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  await f.database.db.sql`update accounts.balances set status = 'CLOSED' where id = ${account.id}`;
  const error = await rejection(deposit(f, account.id, 10, "closed"));
  assert.equal(error.code, "account_closed");
  assert.equal(error.grpcStatus, GrpcStatus.FAILED_PRECONDITION);
  const [row] = await f.database.db.sql<{ n: number }[]>`select count(*)::int8 as n from accounts.deposits`;
  assert.equal(row!.n, 0);
});

Deno.test("CheckFunds answers sufficient or not, and refuses another currency or a closed account", async () => {
  await using f = await startFixture();
  const account = await createAccount(f, "alice", "EUR");
  await deposit(f, account.id, 1000, "fund");
  const enough = await callUnary(f.client, f.client.checkFunds, {
    accountId: account.id,
    amount: 1000,
    currency: "EUR",
  });
  assert.equal(enough.sufficient, true);
  assert.equal(enough.account!.balance, 1000);
  const short = await callUnary(f.client, f.client.checkFunds, {
    accountId: account.id,
    amount: 1001,
    currency: "EUR",
  });
  assert.equal(short.sufficient, false);

  const mismatch = await rejection(
    callUnary(f.client, f.client.checkFunds, { accountId: account.id, amount: 1, currency: "USD" }),
  );
  assert.equal(mismatch.code, "currency_mismatch");

  // Reads are cached, so the account is closed before anything has read it.
  const other = await createAccount(f, "alice", "EUR");
  await f.database.db.sql`update accounts.balances set status = 'CLOSED' where id = ${other.id}`;
  const closed = await rejection(
    callUnary(f.client, f.client.checkFunds, { accountId: other.id, amount: 1, currency: "EUR" }),
  );
  assert.equal(closed.code, "account_closed");
});

Deno.test("unknown account ids are answered NOT_FOUND with code not_found", async () => {
  await using f = await startFixture();
  const id = crypto.randomUUID();
  const calls: (() => Promise<unknown>)[] = [
    () => callUnary(f.client, f.client.getAccount, { id }),
    () => callUnary(f.client, f.client.checkFunds, { accountId: id, amount: 1, currency: "EUR" }),
    () => callUnary(f.client, f.client.deposit, { accountId: id, amount: 1, idempotencyKey: "k", principal: admin }),
    () => callUnary(f.client, f.client.listLedgerEntries, { accountId: id, limit: 0, cursor: "" }),
  ];
  for (const call of calls) {
    const error = await rejection(call());
    assert.equal(error.code, "not_found");
    assert.equal(error.grpcStatus, GrpcStatus.NOT_FOUND);
  }
  const [row] = await f.database.db.sql<{ n: number }[]>`select count(*)::int8 as n from accounts.deposits`;
  assert.equal(row!.n, 0);
});

Deno.test("invalid messages are answered INVALID_ARGUMENT with validation_error and each bad field", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  const cases: [() => Promise<unknown>, string[]][] = [
    [() => callUnary(f.client, f.client.createAccount, { ownerId: "", currency: "EURO", principal: undefined }), [
      "owner_id",
      "currency",
    ]],
    [
      () =>
        callUnary(f.client, f.client.createAccount, { ownerId: "x".repeat(256), currency: "EUR", principal: admin }),
      [
        "owner_id",
      ],
    ],
    [() => callUnary(f.client, f.client.getAccount, { id: "42" }), ["id"]],
    [() => callUnary(f.client, f.client.listAccounts, { ownerId: "", limit: -5, cursor: "garbage!" }), [
      "limit",
      "cursor",
    ]],
    [() => callUnary(f.client, f.client.listLedgerEntries, { accountId: account.id, limit: 1, cursor: "bm9wZQ" }), [
      "cursor",
    ]],
    [() => callUnary(f.client, f.client.checkFunds, { accountId: account.id, amount: 0, currency: "EUR" }), ["amount"]],
    [() => callUnary(f.client, f.client.checkFunds, { accountId: account.id, amount: -5, currency: "XYZ" }), [
      "amount",
      "currency",
    ]],
    [() => deposit(f, account.id, MAX_AMOUNT_MINOR + 1, "k"), ["amount"]],
    [() => deposit(f, account.id, 0, "k"), ["amount"]],
    [() => deposit(f, account.id, 10, ""), ["idempotency_key"]],
    [() => deposit(f, account.id, 10, "k".repeat(256)), ["idempotency_key"]],
    [
      () =>
        callUnary(f.client, f.client.deposit, {
          accountId: account.id,
          amount: 10,
          idempotencyKey: "k",
          principal: undefined,
        }),
      [
        "principal",
      ],
    ],
  ];
  for (const [call, expected] of cases) {
    const error = await rejection(call());
    assert.equal(error.code, "validation_error", error.message);
    assert.equal(error.grpcStatus, GrpcStatus.INVALID_ARGUMENT);
    assert.deepEqual(error.issues.map((i) => i.field), expected);
  }
  const read = await callUnary(f.client, f.client.getAccount, { id: account.id });
  assert.equal(read.account!.balance, 0);
  assert.equal(
    (await callUnary(f.client, f.client.listAccounts, { ownerId: "", limit: 0, cursor: "" })).accounts.length,
    1,
  );
});

Deno.test("ListLedgerEntries pages an account's entries newest first", async () => {
  await using f = await startFixture();
  const account = await createAccount(f);
  const other = await createAccount(f, "bob");
  for (let i = 1; i <= 7; i++) await deposit(f, account.id, i * 10, `l-${i}`);
  await deposit(f, other.id, 1, "other");

  const balances: number[] = [];
  let cursor = "";
  let pages = 0;
  do {
    const page = await callUnary(f.client, f.client.listLedgerEntries, { accountId: account.id, limit: 3, cursor });
    assert.ok(page.entries.every((e) => e.accountId === account.id));
    balances.push(...page.entries.map((e) => e.balanceAfter));
    cursor = page.nextCursor;
    pages++;
  } while (cursor !== "" && pages < 10);
  assert.equal(pages, 3);
  assert.deepEqual(balances, [280, 210, 150, 100, 60, 30, 10]);
});

Deno.test("the gRPC health check answers SERVING, and the admin port serves health, readiness and metrics", async () => {
  await using f = await startFixture();
  const health = new HealthClient(`localhost:${f.service.grpcPort}`, credentials.createInsecure());
  try {
    for (const service of ["", "securepay.account.v1.AccountService"]) {
      const answer = await callUnary(health, health.check, { service });
      assert.equal(answer.status, HealthCheckResponse_ServingStatus.SERVING);
    }
  } finally {
    health.close();
  }
  await createAccount(f);
  await rejection(callUnary(f.client, f.client.getAccount, { id: "nope" }));

  const base = `http://127.0.0.1:${f.service.adminPort}`;
  const healthz = await fetch(`${base}/healthz`);
  assert.deepEqual(await healthz.json(), { status: "ok" });
  const readyz = await fetch(`${base}/readyz`);
  assert.equal(readyz.status, 200);
  assert.deepEqual(await readyz.json(), { status: "ready", checks: { database: "ok" } });
  const metrics = await (await fetch(`${base}/metrics`)).text();
  assert.match(metrics, /securepay_grpc_server_requests_total\{code="ok",method="CreateAccount"\} 1/);
  assert.match(metrics, /securepay_grpc_server_requests_total\{code="validation_error",method="GetAccount"\} 1/);
  assert.match(metrics, /securepay_grpc_server_request_duration_seconds_count\{method="CreateAccount"\} 1/);
});

Deno.test("a failed call carries its SecurePay code in trailing metadata for any gRPC client", async () => {
  await using f = await startFixture();
  const raw = new AccountServiceClient(`localhost:${f.service.grpcPort}`, credentials.createInsecure());
  try {
    const error = await new Promise<{ code: number; metadata: Metadata }>((resolve) => {
      raw.getAccount({ id: crypto.randomUUID() }, (e) => resolve(e as unknown as { code: number; metadata: Metadata }));
    });
    assert.equal(error.code, GrpcStatus.NOT_FOUND);
    assert.deepEqual(error.metadata.get(ERROR_CODE_METADATA), ["not_found"]);
  } finally {
    raw.close();
  }
});
