/**
 * The public API against the real account and payment programs (child
 * processes on a fresh PostgreSQL database), driven through `app.request()`
 * with real signed JWTs: every route's happy path, who may see what, the
 * Idempotency-Key replays, pagination, and that every refused request
 * stored nothing (counted in the services' own tables).
 */

import assert from "node:assert/strict";
import { MAX_AMOUNT_MINOR } from "@securepay/shared";
import type { Answer } from "./_harness.ts";
import { type Services, startServices } from "./_services.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MISSING = "7c9e6679-7425-40de-944b-e07fc1f90ae7";

function assertProblem(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.headers.get("content-type"), "application/problem+json");
  assert.equal(answer.body.code, code, answer.text);
}

function ok(answer: Answer, status: number) {
  assert.equal(answer.status, status, answer.text);
  return answer.body;
}

async function openAccount(s: Services, owner: string, currency: string, fundsMinor = 0) {
  const account = ok(await s.call("POST", "/v1/accounts", { token: await s.token(owner), json: { currency } }), 201);
  if (fundsMinor > 0) {
    ok(
      await s.call("POST", `/v1/accounts/${account.id}/deposits`, {
        token: await s.token("treasurer", "ADMIN"),
        json: { amount: fundsMinor },
        idempotencyKey: `fund-${account.id}`,
      }),
      201,
    );
  }
  return account;
}

Deno.test("accounts: opening, reading and listing follow ownership and roles", async () => {
  await using s = await startServices();
  const alice = await s.token("alice");
  const bob = await s.token("bob");
  const support = await s.token("sam", "SUPPORT");
  const auditor = await s.token("audrey", "AUDITOR");
  const admin = await s.token("root", "ADMIN");

  const created = await s.call("POST", "/v1/accounts", { token: alice, json: { currency: "EUR" } });
  const eur = ok(created, 201);
  assert.match(eur.id, UUID);
  assert.deepEqual({ ...eur, id: "", created_at: "", updated_at: "" }, {
    id: "",
    owner_id: "alice",
    currency: "EUR",
    balance: 0,
    version: eur.version,
    status: "OPEN",
    created_at: "",
    updated_at: "",
  });
  assert.ok(!Number.isNaN(Date.parse(eur.created_at)));
  assert.match(created.headers.get("x-request-id") ?? "", UUID);
  // USERs may name themselves; ADMINs may open accounts for anyone.
  ok(await s.call("POST", "/v1/accounts", { token: alice, json: { currency: "USD", owner_id: "alice" } }), 201);
  ok(await s.call("POST", "/v1/accounts", { token: alice, json: { currency: "GBP" } }), 201);
  const carols = ok(
    await s.call("POST", "/v1/accounts", { token: admin, json: { currency: "JPY", owner_id: "carol" } }),
    201,
  );
  assert.equal(carols.owner_id, "carol");
  const bobs = ok(await s.call("POST", "/v1/accounts", { token: bob, json: { currency: "EUR" } }), 201);
  assert.equal((await s.counts()).accounts, 5);

  // Reading one account.
  assert.deepEqual(ok(await s.call("GET", `/v1/accounts/${eur.id}`, { token: alice }), 200), eur);
  for (const staff of [support, auditor, admin]) {
    ok(await s.call("GET", `/v1/accounts/${eur.id}`, { token: staff }), 200);
  }
  const othersAnswer = await s.call("GET", `/v1/accounts/${eur.id}`, { token: bob });
  const missingAnswer = await s.call("GET", `/v1/accounts/${MISSING}`, { token: bob });
  assertProblem(othersAnswer, 404, "not_found");
  assertProblem(missingAnswer, 404, "not_found");
  // Someone else's account is indistinguishable from a missing one.
  assert.equal(othersAnswer.body.detail, missingAnswer.body.detail);

  // Listing: a USER sees their own, newest first, page by page.
  const page1 = ok(await s.call("GET", "/v1/accounts?limit=2", { token: alice }), 200);
  assert.equal(page1.data.length, 2);
  assert.equal(typeof page1.next_cursor, "string");
  const page2 = ok(await s.call("GET", `/v1/accounts?limit=2&cursor=${page1.next_cursor}`, { token: alice }), 200);
  assert.equal(page2.data.length, 1);
  assert.equal(page2.next_cursor, null);
  const listed = [...page1.data, ...page2.data];
  assert.deepEqual(listed.map((a: { currency: string }) => a.currency), ["GBP", "USD", "EUR"]);
  assert.ok(listed.every((a: { owner_id: string }) => a.owner_id === "alice"));
  assert.deepEqual(ok(await s.call("GET", "/v1/accounts?owner_id=alice", { token: alice }), 200).data, listed);
  assert.deepEqual(ok(await s.call("GET", "/v1/accounts", { token: bob }), 200).data, [bobs]);
  assert.deepEqual(ok(await s.call("GET", "/v1/accounts", { token: await s.token("nobody") }), 200), {
    data: [],
    next_cursor: null,
  });
  // Staff see everyone's, optionally by owner.
  for (const staff of [support, auditor, admin]) {
    assert.equal(ok(await s.call("GET", "/v1/accounts", { token: staff }), 200).data.length, 5);
    assert.equal(ok(await s.call("GET", "/v1/accounts?owner_id=carol", { token: staff }), 200).data.length, 1);
  }
  // A cursor that is not one of ours is the caller's mistake.
  assertProblem(await s.call("GET", "/v1/accounts?cursor=bm90LWEtY3Vyc29y", { token: alice }), 400, "validation_error");
});

Deno.test("deposits: ADMIN only, replayed for a repeated Idempotency-Key, visible in the ledger", async () => {
  await using s = await startServices();
  const admin = await s.token("root", "ADMIN");
  const alice = await s.token("alice");
  const account = await openAccount(s, "alice", "EUR");
  const path = `/v1/accounts/${account.id}/deposits`;

  const first = await s.call("POST", path, { token: admin, json: { amount: 10_000 }, idempotencyKey: "dep-1" });
  const result = ok(first, 201);
  assert.equal(first.headers.get("idempotent-replayed"), null);
  assert.match(result.deposit.id, UUID);
  assert.deepEqual({ ...result.deposit, id: "", created_at: "" }, {
    id: "",
    account_id: account.id,
    amount: 10_000,
    currency: "EUR",
    created_at: "",
  });
  assert.equal(result.account.balance, 10_000);
  assert.equal(result.account.id, account.id);

  const replay = await s.call("POST", path, { token: admin, json: { amount: 10_000 }, idempotencyKey: "dep-1" });
  assert.equal(replay.status, 201);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(replay.body, result);
  assertProblem(
    await s.call("POST", path, { token: admin, json: { amount: 20_000 }, idempotencyKey: "dep-1" }),
    422,
    "idempotency_key_reused",
  );
  // The key is scoped to the principal: another ADMIN's identical key is a new deposit.
  const other = await s.token("root2", "ADMIN");
  const second = ok(await s.call("POST", path, { token: other, json: { amount: 5 }, idempotencyKey: "dep-1" }), 201);
  assert.equal(second.account.balance, 10_005);

  // Refused deposits store nothing.
  const before = await s.counts();
  for (const token of [alice, await s.token("sam", "SUPPORT"), await s.token("audrey", "AUDITOR")]) {
    assertProblem(await s.call("POST", path, { token, json: { amount: 1 }, idempotencyKey: "x" }), 403, "forbidden");
  }
  for (const amount of [0, -5, 2.5, MAX_AMOUNT_MINOR + 1, "10"]) {
    assertProblem(
      await s.call("POST", path, { token: admin, json: { amount }, idempotencyKey: "x" }),
      400,
      "validation_error",
    );
  }
  assertProblem(await s.call("POST", path, { token: admin, json: { amount: 1 } }), 400, "idempotency_key_missing");
  assertProblem(
    await s.call("POST", `/v1/accounts/${MISSING}/deposits`, {
      token: admin,
      json: { amount: 1 },
      idempotencyKey: "y",
    }),
    404,
    "not_found",
  );
  assert.deepEqual(await s.counts(), before);

  // The ledger: owner, AUDITOR and ADMIN; not SUPPORT; others see nothing at all.
  const ledger = ok(await s.call("GET", `/v1/accounts/${account.id}/ledger`, { token: alice }), 200);
  assert.equal(ledger.data.length, 2);
  assert.deepEqual(
    ledger.data.map((e: { kind: string; amount: number; balance_after: number; payment_id: null }) => [
      e.kind,
      e.amount,
      e.balance_after,
      e.payment_id,
    ]),
    [["DEPOSIT", 5, 10_005, null], ["DEPOSIT", 10_000, 10_000, null]],
  );
  assert.equal(ledger.data[1].deposit_id, result.deposit.id);
  const firstPage = ok(await s.call("GET", `/v1/accounts/${account.id}/ledger?limit=1`, { token: alice }), 200);
  assert.deepEqual(firstPage.data, [ledger.data[0]]);
  const secondPage = ok(
    await s.call("GET", `/v1/accounts/${account.id}/ledger?limit=1&cursor=${firstPage.next_cursor}`, { token: alice }),
    200,
  );
  assert.deepEqual(secondPage.data, [ledger.data[1]]);
  for (const token of [await s.token("audrey", "AUDITOR"), admin]) {
    assert.deepEqual(ok(await s.call("GET", `/v1/accounts/${account.id}/ledger`, { token }), 200), ledger);
  }
  assertProblem(
    await s.call("GET", `/v1/accounts/${account.id}/ledger`, { token: await s.token("sam", "SUPPORT") }),
    403,
    "forbidden",
  );
  assertProblem(
    await s.call("GET", `/v1/accounts/${account.id}/ledger`, { token: await s.token("bob") }),
    404,
    "not_found",
  );
});

Deno.test("payments: accepted as PENDING, replayed, readable by payer, payee and staff, listed with filters", async () => {
  await using s = await startServices();
  const alice = await s.token("alice");
  const bob = await s.token("bob");
  const from = await openAccount(s, "alice", "EUR", 10_000);
  const to = await openAccount(s, "bob", "EUR");
  const json = { from_account: from.id, to_account: to.id, amount: 1050, currency: "EUR", description: "rent" };

  const accepted = await s.call("POST", "/v1/payments", { token: alice, json, idempotencyKey: "pay-1" });
  const payment = ok(accepted, 202);
  assert.equal(accepted.headers.get("idempotent-replayed"), null);
  assert.match(payment.id, UUID);
  assert.deepEqual({ ...payment, id: "", created_at: "", updated_at: "" }, {
    id: "",
    ...json,
    status: "PENDING",
    failure_reason: null,
    created_at: "",
    updated_at: "",
  });

  const replay = await s.call("POST", "/v1/payments", { token: alice, json, idempotencyKey: "pay-1" });
  assert.equal(replay.status, 202);
  assert.equal(replay.headers.get("idempotent-replayed"), "true");
  assert.deepEqual(replay.body, payment);
  assertProblem(
    await s.call("POST", "/v1/payments", { token: alice, json: { ...json, amount: 1 }, idempotencyKey: "pay-1" }),
    422,
    "idempotency_key_reused",
  );
  assert.equal((await s.counts()).payments, 1);

  // Money moves only once the payment is applied (a later issue): balances stay as they were.
  assert.equal(ok(await s.call("GET", `/v1/accounts/${from.id}`, { token: alice }), 200).balance, 10_000);

  // Reading: payer, payee and staff; everyone else gets the same answer as for a missing id.
  for (const token of [alice, bob, await s.token("sam", "SUPPORT"), await s.token("audrey", "AUDITOR")]) {
    assert.deepEqual(ok(await s.call("GET", `/v1/payments/${payment.id}`, { token }), 200), payment);
  }
  const carol = await s.token("carol");
  const hidden = await s.call("GET", `/v1/payments/${payment.id}`, { token: carol });
  const missing = await s.call("GET", `/v1/payments/${MISSING}`, { token: carol });
  assertProblem(hidden, 404, "not_found");
  assertProblem(missing, 404, "not_found");
  assert.equal(hidden.body.detail, missing.body.detail);

  // Listing: two more payments, then pages, filters and scoping.
  const second = ok(
    await s.call("POST", "/v1/payments", { token: alice, json: { ...json, amount: 1 }, idempotencyKey: "pay-2" }),
    202,
  );
  const third = ok(
    await s.call("POST", "/v1/payments", { token: alice, json: { ...json, amount: 2 }, idempotencyKey: "pay-3" }),
    202,
  );
  const ids = (body: { data: { id: string }[] }) => body.data.map((p) => p.id);
  const page1 = ok(await s.call("GET", "/v1/payments?limit=2", { token: alice }), 200);
  assert.deepEqual(ids(page1), [third.id, second.id]);
  const page2 = ok(await s.call("GET", `/v1/payments?limit=2&cursor=${page1.next_cursor}`, { token: alice }), 200);
  assert.deepEqual(ids(page2), [payment.id]);
  assert.equal(page2.next_cursor, null);
  assert.deepEqual(ids(ok(await s.call("GET", "/v1/payments", { token: bob }), 200)), [
    third.id,
    second.id,
    payment.id,
  ]);
  assert.deepEqual(ok(await s.call("GET", "/v1/payments", { token: carol }), 200).data, []);
  assert.equal(ok(await s.call("GET", "/v1/payments", { token: await s.token("root", "ADMIN") }), 200).data.length, 3);
  assert.equal(ok(await s.call("GET", "/v1/payments?status=PENDING", { token: alice }), 200).data.length, 3);
  assert.deepEqual(ok(await s.call("GET", "/v1/payments?status=COMPLETED", { token: alice }), 200).data, []);
  assert.equal(ok(await s.call("GET", `/v1/payments?account_id=${to.id}`, { token: bob }), 200).data.length, 3);
  // A USER filtering by someone else's account still sees only their own payments.
  assert.deepEqual(ok(await s.call("GET", `/v1/payments?account_id=${from.id}`, { token: carol }), 200).data, []);
});

Deno.test("refused payments answer the exact problem and store nothing", async () => {
  await using s = await startServices();
  const alice = await s.token("alice");
  const from = await openAccount(s, "alice", "EUR", 10_000);
  const to = await openAccount(s, "bob", "EUR");
  const dollars = await openAccount(s, "bob", "USD");
  const bobsFunded = await openAccount(s, "bob", "EUR", 10_000);
  const valid = { from_account: from.id, to_account: to.id, amount: 1050, currency: "EUR" };
  const before = await s.counts();
  assert.equal(before.payments, 0);

  const cases: [string, Record<string, unknown>, number, string, string?][] = [
    ["amount 0", { ...valid, amount: 0 }, 400, "validation_error"],
    ["negative amount", { ...valid, amount: -1050 }, 400, "validation_error"],
    ["fractional amount", { ...valid, amount: 10.5 }, 400, "validation_error"],
    ["amount above the maximum", { ...valid, amount: MAX_AMOUNT_MINOR + 1 }, 400, "validation_error"],
    ["amount as a string", { ...valid, amount: "1050" }, 400, "validation_error"],
    ["unknown currency", { ...valid, currency: "XXX" }, 400, "validation_error"],
    ["same from and to", { ...valid, to_account: from.id }, 400, "validation_error"],
    ["unknown field", { ...valid, status: "COMPLETED" }, 400, "validation_error"],
    ["currency differing from the payer's", { ...valid, currency: "USD" }, 422, "currency_mismatch"],
    ["currency differing from the payee's", { ...valid, to_account: dollars.id }, 422, "currency_mismatch"],
    ["more than the balance", { ...valid, amount: 10_001 }, 422, "insufficient_funds"],
    ["unknown from_account", { ...valid, from_account: MISSING }, 404, "not_found"],
    ["unknown to_account", { ...valid, to_account: MISSING }, 404, "not_found"],
    ["another user's account", { ...valid, from_account: bobsFunded.id, to_account: from.id }, 403, "forbidden"],
  ];
  for (const [name, json, status, code] of cases) {
    const answer = await s.call("POST", "/v1/payments", { token: alice, json, idempotencyKey: `key-${name}` });
    assert.equal(answer.status, status, `${name}: ${answer.text}`);
    assert.equal(answer.body.code, code, `${name}: ${answer.text}`);
  }
  const json = { "content-type": "application/json" };
  assertProblem(
    await s.call("POST", "/v1/payments", {
      token: alice,
      body: '{"from_account":',
      headers: json,
      idempotencyKey: "k",
    }),
    400,
    "validation_error",
  );
  assertProblem(
    await s.call("POST", "/v1/payments", {
      token: alice,
      body: JSON.stringify({ ...valid, description: "x".repeat(1024 * 1024) }),
      headers: json,
      idempotencyKey: "k",
    }),
    413,
    "payload_too_large",
  );
  assertProblem(await s.call("POST", "/v1/payments", { token: alice, json: valid }), 400, "idempotency_key_missing");
  assertProblem(
    await s.call("POST", "/v1/payments", { token: alice, json: valid, idempotencyKey: "k".repeat(256) }),
    400,
    "validation_error",
  );
  const badTokens = [
    await s.idp.sign({ sub: "alice", expiresInSeconds: -60 }),
    await s.idp.sign({ sub: "alice", notBeforeInSeconds: 120 }),
    await s.idp.sign({ sub: "alice", audience: "another-api" }),
    await s.idp.sign({ sub: "alice", issuer: "https://issuer.example" }),
    s.idp.unsignedToken({ sub: "alice" }),
    await s.idp.hmacWithPublicKeyToken({ sub: "alice" }),
    await s.idp.foreignKeyToken({ sub: "alice" }),
  ];
  for (const token of badTokens) {
    assertProblem(
      await s.call("POST", "/v1/payments", { token, json: valid, idempotencyKey: "t" }),
      401,
      "unauthenticated",
    );
  }
  assert.deepEqual(await s.counts(), before);

  // The same request with a good key and token goes through, so the refusals above were about what they changed.
  ok(await s.call("POST", "/v1/payments", { token: alice, json: valid, idempotencyKey: "good" }), 202);
  assert.equal((await s.counts()).payments, 1);
});
