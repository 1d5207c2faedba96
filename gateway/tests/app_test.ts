/**
 * The HTTP edge on its own: authentication, validation, problems, body
 * limits, request ids and the OpenAPI document, with real signed JWTs and
 * real gRPC clients pointed at ports where nothing listens. A request that
 * got past the gateway's own checks would answer 503; a 4xx therefore also
 * proves that nothing was sent downstream.
 */

import assert from "node:assert/strict";
import { MAX_AMOUNT_MINOR } from "@securepay/shared";
import { type Answer, startHarness } from "./_harness.ts";

const A = "0b6f1d8e-3c1a-4f7e-9a57-2f4d2c1e8b90";
const B = "5d2c3a41-7e6f-4b89-8c12-9f0e1d2c3b4a";

function assertProblem(answer: Answer, status: number, code: string): void {
  assert.equal(answer.status, status, answer.text);
  assert.equal(answer.headers.get("content-type"), "application/problem+json");
  assert.equal(answer.body.code, code);
  assert.equal(answer.body.status, status);
  assert.equal(answer.body.type, `https://securepay.dev/problems/${code}`);
  assert.equal(typeof answer.body.title, "string");
  assert.equal(typeof answer.body.detail, "string");
  assert.equal(answer.body.request_id, answer.headers.get("x-request-id"));
}

function fieldsOf(answer: Answer): string[] {
  return (answer.body.errors ?? []).map((e: { field: string }) => e.field);
}

const validPayment = { from_account: A, to_account: B, amount: 1050, currency: "EUR" };

Deno.test("gateway answers 401 with a Bearer challenge when no token is sent", async () => {
  await using h = await startHarness();
  for (const [method, path] of [["GET", "/v1/accounts"], ["POST", "/v1/payments"], ["GET", `/v1/payments/${A}`]]) {
    const json = method === "POST" ? validPayment : undefined;
    const answer = await h.call(method!, path!, { json, idempotencyKey: "k" });
    assertProblem(answer, 401, "unauthenticated");
    assert.equal(answer.headers.get("www-authenticate"), 'Bearer realm="securepay"');
  }
});

Deno.test("gateway answers 401 invalid_token for every unacceptable token, without echoing it", async () => {
  await using h = await startHarness();
  const { idp } = h;
  const tokens: Record<string, string> = {
    expired: await idp.sign({ expiresInSeconds: -60 }),
    "not yet valid": await idp.sign({ notBeforeInSeconds: 120 }),
    "another audience": await idp.sign({ audience: "another-api" }),
    "another issuer": await idp.sign({ issuer: "https://issuer.example" }),
    "alg none": idp.unsignedToken(),
    "HS256 with the public key": await idp.hmacWithPublicKeyToken(),
    "unknown kid": await idp.foreignKeyToken(),
    "roles not an array": await idp.sign({ roles: "ADMIN" }),
    "not a JWT": "not-a-jwt",
  };
  for (const [name, token] of Object.entries(tokens)) {
    const answer = await h.call("GET", "/v1/accounts", { token });
    assertProblem(answer, 401, "unauthenticated");
    assert.equal(answer.headers.get("www-authenticate"), 'Bearer realm="securepay", error="invalid_token"', name);
    assert.ok(!answer.text.includes(token), `${name}: the token leaked into the response`);
  }
  // Other schemes are not bearer tokens.
  assertProblem(
    await h.call("GET", "/v1/accounts", { headers: { authorization: "Basic YWxpY2U6c2VjcmV0" } }),
    401,
    "unauthenticated",
  );
  assert.ok(!h.logs.join("\n").includes(tokens.expired!), "a token reached the logs");
});

Deno.test("gateway answers 503 upstream_unavailable when the IdP's keys cannot be fetched", async () => {
  await using h = await startHarness();
  h.idp.failJwks(true);
  const answer = await h.call("GET", "/v1/accounts", { token: await h.token("alice") });
  assertProblem(answer, 503, "upstream_unavailable");
});

Deno.test("gateway answers 503 upstream_unavailable, without internals, when a service is down", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  for (
    const [method, path, json] of [
      ["GET", "/v1/accounts", undefined],
      ["GET", `/v1/accounts/${A}`, undefined],
      ["POST", "/v1/accounts", { currency: "EUR" }],
      ["GET", "/v1/payments", undefined],
    ] as const
  ) {
    const answer = await h.call(method, path, { token, json });
    assertProblem(answer, 503, "upstream_unavailable");
    assert.equal(answer.headers.get("retry-after"), "1");
    assert.doesNotMatch(answer.text, /localhost|127\.0\.0\.1|grpc|stack|at \w+ \(/i);
  }
});

Deno.test("gateway tells a caller whose keyed request met an unavailable service to retry with the same key", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  const answer = await h.call("POST", "/v1/payments", {
    token,
    idempotencyKey: "retry-me",
    json: { from_account: A, to_account: B, amount: 100, currency: "EUR" },
  });
  assertProblem(answer, 503, "upstream_unavailable");
  assert.equal(answer.headers.get("retry-after"), "1");
  assert.match(answer.body.detail, /Retry it with the same Idempotency-Key/);
});

Deno.test("POST /v1/payments rejects bad amounts, currencies, ids and fields with validation_error", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  const cases: [string, Record<string, unknown>, string][] = [
    ["amount 0", { ...validPayment, amount: 0 }, "amount"],
    ["negative amount", { ...validPayment, amount: -100 }, "amount"],
    ["fractional amount", { ...validPayment, amount: 10.5 }, "amount"],
    ["amount above the maximum", { ...validPayment, amount: MAX_AMOUNT_MINOR + 1 }, "amount"],
    ["amount as a string", { ...validPayment, amount: "1050" }, "amount"],
    ["missing amount", { ...validPayment, amount: undefined }, "amount"],
    ["unknown currency", { ...validPayment, currency: "XYZ" }, "currency"],
    ["lower-case currency", { ...validPayment, currency: "eur" }, "currency"],
    ["same from and to", { ...validPayment, to_account: A }, "to_account"],
    ["same from and to in another case", { ...validPayment, to_account: A.toUpperCase() }, "to_account"],
    ["bad from uuid", { ...validPayment, from_account: "acc-1" }, "from_account"],
    ["unknown field", { ...validPayment, admin: true }, "admin"],
    ["description over 500", { ...validPayment, description: "x".repeat(501) }, "description"],
    ["description not a string", { ...validPayment, description: 5 }, "description"],
  ];
  for (const [name, json, field] of cases) {
    const answer = await h.call("POST", "/v1/payments", { token, json, idempotencyKey: `k-${name}` });
    assertProblem(answer, 400, "validation_error");
    assert.ok(fieldsOf(answer).includes(field), `${name}: ${answer.text}`);
  }
  const body = await h.call("POST", "/v1/payments", { token, json: [validPayment], idempotencyKey: "k-array" });
  assertProblem(body, 400, "validation_error");
});

Deno.test("POST bodies that are not JSON answer validation_error or 415", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  const headers = { "content-type": "application/json" };
  for (const body of ['{"amount": 1', "", "not json", "\uFEFF{}x"]) {
    const answer = await h.call("POST", "/v1/payments", { token, body, headers, idempotencyKey: "k" });
    assertProblem(answer, 400, "validation_error");
    assert.equal(answer.body.detail, "body is not valid JSON");
  }
  const invalidUtf8 = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]);
  assertProblem(
    await h.call("POST", "/v1/payments", { token, body: invalidUtf8, headers, idempotencyKey: "k" }),
    400,
    "validation_error",
  );
  for (const contentType of ["text/plain", "application/x-www-form-urlencoded"]) {
    const answer = await h.call("POST", "/v1/payments", {
      token,
      body: JSON.stringify(validPayment),
      headers: { "content-type": contentType },
      idempotencyKey: "k",
    });
    assertProblem(answer, 415, "unsupported_media_type");
  }
  // JSON with a charset parameter is JSON: it passes the gateway and reaches the (absent) service.
  const withCharset = await h.call("POST", "/v1/accounts", {
    token,
    body: JSON.stringify({ currency: "EUR" }),
    headers: { "content-type": "application/json; charset=utf-8" },
  });
  assertProblem(withCharset, 503, "upstream_unavailable");
  const noType = await h.call("POST", "/v1/accounts", { token, body: JSON.stringify({ currency: "EUR" }) });
  // fetch labels a string body text/plain; a body without any type is just as unacceptable.
  assertProblem(noType, 415, "unsupported_media_type");
});

Deno.test("bodies over 1 MiB answer 413 payload_too_large, with or without Content-Length", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  const big = JSON.stringify({ ...validPayment, description: "x".repeat(1024 * 1024) });
  const declared = await h.call("POST", "/v1/payments", {
    token,
    body: big,
    headers: { "content-type": "application/json" },
    idempotencyKey: "k",
  });
  assertProblem(declared, 413, "payload_too_large");

  const bytes = new TextEncoder().encode(big);
  const chunked = new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
      controller.close();
    },
  });
  const streamed = await h.call("POST", "/v1/payments", {
    token,
    body: chunked,
    headers: { "content-type": "application/json" },
    idempotencyKey: "k",
  });
  assertProblem(streamed, 413, "payload_too_large");

  // Exactly at the bound is still read (and then judged on its content).
  const atLimit = JSON.stringify({ pad: "x".repeat(1024 * 1024 - 10) });
  assert.equal(new TextEncoder().encode(atLimit).length, 1024 * 1024);
  const answer = await h.call("POST", "/v1/payments", {
    token,
    body: atLimit,
    headers: { "content-type": "application/json" },
    idempotencyKey: "k",
  });
  assertProblem(answer, 400, "validation_error");
});

Deno.test("Idempotency-Key: missing answers idempotency_key_missing; empty, too long or unprintable validation_error", async () => {
  await using h = await startHarness();
  const user = await h.token("alice");
  const admin = await h.token("root", "ADMIN");
  const routes = [
    { path: "/v1/payments", token: user, json: validPayment },
    { path: `/v1/accounts/${A}/deposits`, token: admin, json: { amount: 100 } },
  ];
  for (const { path, token, json } of routes) {
    assertProblem(await h.call("POST", path, { token, json }), 400, "idempotency_key_missing");
    for (const key of ["", "k".repeat(256), "tab\there", "caf\u00e9"]) {
      const answer = await h.call("POST", path, { token, json, idempotencyKey: key });
      assertProblem(answer, 400, "validation_error");
      assert.deepEqual(fieldsOf(answer), ["Idempotency-Key"], `${JSON.stringify(key)}: ${answer.text}`);
    }
    // 255 printable characters pass the gateway and reach the (absent) service.
    assertProblem(
      await h.call("POST", path, { token, json, idempotencyKey: "k".repeat(255) }),
      503,
      "upstream_unavailable",
    );
  }
});

Deno.test("POST /v1/accounts/{id}/deposits is for ADMIN only and validates the amount", async () => {
  await using h = await startHarness();
  for (const role of [[], ["SUPPORT"], ["AUDITOR"], ["USER", "SUPPORT"]] as const) {
    const token = await h.token("someone", ...role);
    const answer = await h.call("POST", `/v1/accounts/${A}/deposits`, {
      token,
      json: { amount: 100 },
      idempotencyKey: "k",
    });
    assertProblem(answer, 403, "forbidden");
  }
  const admin = await h.token("root", "ADMIN");
  for (const amount of [0, -1, 1.5, MAX_AMOUNT_MINOR + 1, "100", null]) {
    const answer = await h.call("POST", `/v1/accounts/${A}/deposits`, {
      token: admin,
      json: { amount },
      idempotencyKey: "k",
    });
    assertProblem(answer, 400, "validation_error");
    assert.deepEqual(fieldsOf(answer), ["amount"]);
  }
  assertProblem(
    await h.call("POST", "/v1/accounts/not-a-uuid/deposits", {
      token: admin,
      json: { amount: 1 },
      idempotencyKey: "k",
    }),
    400,
    "validation_error",
  );
});

Deno.test("USERs may not open or list accounts of other owners", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  assertProblem(
    await h.call("POST", "/v1/accounts", { token, json: { currency: "EUR", owner_id: "bob" } }),
    403,
    "forbidden",
  );
  assertProblem(await h.call("GET", "/v1/accounts?owner_id=bob", { token }), 403, "forbidden");
  const support = await h.token("sam", "SUPPORT");
  assertProblem(await h.call("POST", "/v1/accounts", { token: support, json: { currency: "EUR" } }), 403, "forbidden");
  const answer = await h.call("POST", "/v1/accounts", { token, json: { currency: "EUR", colour: "red" } });
  assertProblem(answer, 400, "validation_error");
  assert.deepEqual(fieldsOf(answer), ["colour"]);
  assertProblem(await h.call("POST", "/v1/accounts", { token, json: { currency: "BTC" } }), 400, "validation_error");
});

Deno.test("list queries validate limit, cursor and filters", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  for (const query of ["limit=0", "limit=101", "limit=abc", "limit=1.5", "cursor=%20", "cursor=" + "a".repeat(513)]) {
    const answer = await h.call("GET", `/v1/accounts?${query}`, { token });
    assertProblem(answer, 400, "validation_error");
  }
  for (const query of ["status=DONE", "account_id=123"]) {
    assertProblem(await h.call("GET", `/v1/payments?${query}`, { token }), 400, "validation_error");
  }
  assertProblem(await h.call("GET", `/v1/accounts/${A}/ledger?limit=500`, { token }), 400, "validation_error");
  assertProblem(await h.call("GET", "/v1/payments/not-a-uuid", { token }), 400, "validation_error");
});

Deno.test("every response carries X-Request-Id: the caller's when acceptable, else a new UUID", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  const mine = await h.call("GET", "/nowhere", { headers: { "x-request-id": "trace-1.2_3" } });
  assertProblem(mine, 404, "not_found");
  assert.equal(mine.headers.get("x-request-id"), "trace-1.2_3");
  for (const bad of ["has space", "x".repeat(129), "semi;colon", ""]) {
    const answer = await h.call("GET", "/v1/accounts", { token, headers: { "x-request-id": bad } });
    assert.match(answer.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  }
  for (const answer of [await h.call("GET", "/v1/accounts"), await h.call("GET", "/openapi.json")]) {
    assert.match(answer.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
  }
});

Deno.test("unknown routes answer a not_found problem", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  const answer = await h.call("GET", "/v1/nothing-here", { token });
  assertProblem(answer, 404, "not_found");
  assert.equal(answer.body.instance, "/v1/nothing-here");
  assertProblem(await h.call("GET", "/"), 404, "not_found");
});

Deno.test("a known path with another method answers 405 method_not_allowed with Allow", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  const answer = await h.call("DELETE", `/v1/accounts/${A}`, { token });
  assertProblem(answer, 405, "method_not_allowed");
  assert.equal(answer.headers.get("allow"), "GET, HEAD");
  const put = await h.call("PUT", "/v1/payments", { token });
  assertProblem(put, 405, "method_not_allowed");
  assert.equal(put.headers.get("allow"), "GET, HEAD, POST");
  assertProblem(await h.call("POST", "/openapi.json"), 405, "method_not_allowed");
});

Deno.test("GET /openapi.json is an OpenAPI 3.1 document of every route, generated from the validating schemas", async () => {
  await using h = await startHarness();
  const answer = await h.call("GET", "/openapi.json");
  assert.equal(answer.status, 200);
  const doc = answer.body;
  assert.equal(doc.openapi, "3.1.0");
  assert.deepEqual(Object.keys(doc.paths).sort(), [
    "/v1/accounts",
    "/v1/accounts/{id}",
    "/v1/accounts/{id}/deposits",
    "/v1/accounts/{id}/ledger",
    "/v1/payments",
    "/v1/payments/{id}",
    "/v1/payments/{id}/refunds",
  ]);
  assert.deepEqual(Object.keys(doc.paths["/v1/accounts"]).sort(), ["get", "post"]);
  assert.deepEqual(doc.components.securitySchemes.bearer, {
    type: "http",
    scheme: "bearer",
    bearerFormat: "JWT",
    description: "An access token from the identity provider (RS256, ES256 or EdDSA)",
  });
  assert.ok(doc.components.schemas.Problem, "Problem schema");
  const pay = doc.paths["/v1/payments"].post;
  assert.deepEqual(pay.security, [{ bearer: [] }]);
  const key = pay.parameters.find((p: { in: string }) => p.in === "header");
  assert.equal(key.name.toLowerCase(), "idempotency-key");
  assert.equal(key.required, true);
  assert.equal(key.schema.maxLength, 255);
  assert.ok(pay.responses["202"]);
  assert.ok(pay.responses["422"].content["application/problem+json"]);
  const request = doc.components.schemas.CreatePaymentRequest;
  assert.equal(request.additionalProperties, false);
  assert.deepEqual(request.properties.amount.maximum, MAX_AMOUNT_MINOR);
  assert.ok(request.properties.currency.enum.includes("EUR"));
  const deposit = doc.paths["/v1/accounts/{id}/deposits"].post;
  assert.ok(deposit.parameters.some((p: { in: string }) => p.in === "header"));
  assert.ok(deposit.parameters.some((p: { in: string; name: string }) => p.in === "path" && p.name === "id"));
});

Deno.test("requests are logged and counted by route pattern, never with the Authorization header", async () => {
  await using h = await startHarness();
  const token = await h.token("alice");
  await h.call("GET", `/v1/payments/${A}`, { token });
  await h.call("GET", "/nowhere");
  const lines = h.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
  assert.equal(lines.length, 2);
  assert.equal(lines[0].route, "/v1/payments/:id");
  assert.equal(lines[0].status, 503);
  assert.equal(lines[0].subject, "alice");
  assert.equal(typeof lines[0].request_id, "string");
  assert.equal(typeof lines[0].duration_ms, "number");
  assert.equal(lines[1].route, "unmatched");
  assert.ok(!h.logs.join("\n").includes(token));
  const metrics = h.metrics.render();
  assert.match(metrics, /http_requests_total\{method="GET",route="\/v1\/payments\/:id",status="503"\} 1/);
  assert.match(metrics, /http_request_duration_seconds_count\{method="GET",route="unmatched"\} 1/);
});
