import assert from "node:assert/strict";
import * as jose from "jose";
import { devKeyPath, loadOrCreateDevKey } from "./dev_key.ts";
import { parseTokenRequest, TTL_MAX_SECONDS } from "./dev_token.ts";
import { MAX_TOKEN_BODY_BYTES, startDevIdp } from "./idp.ts";

async function withIdp(fn: (idp: Awaited<ReturnType<typeof startDevIdp>>, stateDir: string) => Promise<void>) {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-idp-" });
  try {
    await using idp = await startDevIdp({ port: 0, stateDir });
    await fn(idp, stateDir);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
}

const postToken = (issuer: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${issuer}/token`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } });

Deno.test("startDevIdp() issues ES256 tokens that verify against its JWKS with issuer and audience", async () => {
  await withIdp(async (idp) => {
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await postToken(idp.issuer, JSON.stringify({ sub: "alice", roles: ["ADMIN", "SUPPORT"] }));
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.token_type, "Bearer");
    assert.equal(body.expires_in, 3600);
    const jwks = jose.createRemoteJWKSet(new URL(idp.jwksUrl));
    const { payload, protectedHeader } = await jose.jwtVerify(body.access_token, jwks, {
      issuer: idp.issuer,
      audience: "securepay-api",
      algorithms: ["ES256"],
    });
    assert.equal(payload.sub, "alice");
    assert.deepEqual(payload.roles, ["ADMIN", "SUPPORT"]);
    assert.equal(payload.exp! - payload.iat!, 3600);
    assert.equal(typeof protectedHeader.kid, "string");
    const keys = (await (await fetch(idp.jwksUrl)).json()).keys;
    assert.equal(keys.length, 1);
    assert.equal(keys[0].d, undefined, "the JWKS must not publish the private part");
    assert.equal(keys[0].kid, protectedHeader.kid);
  });
});

Deno.test("startDevIdp() defaults roles to USER and honours ttl_seconds", async () => {
  await withIdp(async (idp) => {
    const body = await (await postToken(idp.issuer, JSON.stringify({ sub: "bob", ttl_seconds: 60 }))).json();
    const claims = jose.decodeJwt(body.access_token);
    assert.deepEqual(claims.roles, ["USER"]);
    assert.equal(claims.exp! - claims.iat!, 60);
    assert.equal(body.expires_in, 60);
  });
});

Deno.test("startDevIdp() answers bad token requests with 400 problems naming every issue", async () => {
  await withIdp(async (idp) => {
    const cases: [string, RegExp][] = [
      ["not json", /JSON/],
      ["[]", /JSON object/],
      [JSON.stringify({}), /sub must be/],
      [JSON.stringify({ sub: "" }), /sub must be/],
      [JSON.stringify({ sub: "x".repeat(256) }), /sub must be/],
      [JSON.stringify({ sub: "a\nb" }), /control/],
      [JSON.stringify({ sub: "a", roles: ["ROOT"] }), /roles must be among/],
      [JSON.stringify({ sub: "a", roles: "ADMIN" }), /roles must be a list/],
      [JSON.stringify({ sub: "a", ttl_seconds: 0 }), /ttl_seconds/],
      [JSON.stringify({ sub: "a", ttl_seconds: TTL_MAX_SECONDS + 1 }), /ttl_seconds/],
      [JSON.stringify({ sub: "a", ttl_seconds: 1.5 }), /ttl_seconds/],
      [JSON.stringify({ sub: "a", admin: true }), /admin is not a known field/],
    ];
    for (const [body, expected] of cases) {
      const res = await postToken(idp.issuer, body);
      assert.equal(res.status, 400, body);
      assert.equal(res.headers.get("content-type"), "application/problem+json");
      const problem = await res.json();
      assert.equal(problem.code, "validation_error");
      assert.match(`${problem.detail} ${(problem.issues ?? []).join(" ")}`, expected, body);
    }
    const both = await (await postToken(idp.issuer, JSON.stringify({ roles: ["X"], ttl_seconds: -1 }))).json();
    assert.equal(both.issues.length, 3, "every problem is reported at once");
  });
});

Deno.test("startDevIdp() refuses a token body over the bound with 413", async () => {
  await withIdp(async (idp) => {
    const res = await postToken(idp.issuer, JSON.stringify({ sub: "a", pad: "x".repeat(MAX_TOKEN_BODY_BYTES) }));
    assert.equal(res.status, 413);
    assert.equal((await res.json()).code, "payload_too_large");
  });
});

Deno.test("startDevIdp() answers unknown paths with 404 and wrong methods with 405", async () => {
  await withIdp(async (idp) => {
    const missing = await fetch(`${idp.issuer}/nope`);
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const wrong = await fetch(`${idp.issuer}/token`);
    assert.equal(wrong.status, 405);
    await wrong.body?.cancel();
    const config = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
    assert.equal(config.jwks_uri, idp.jwksUrl);
  });
});

Deno.test("startDevIdp() keeps its key across restarts in a 0600 file", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-idp-" });
  try {
    let token: string;
    {
      await using first = await startDevIdp({ port: 0, stateDir });
      token = await first.issueToken("alice", ["ADMIN"]);
    }
    await using second = await startDevIdp({ port: 0, stateDir });
    const jwks = jose.createLocalJWKSet(await (await fetch(second.jwksUrl)).json());
    const { payload } = await jose.jwtVerify(token, jwks, { audience: "securepay-api" });
    assert.equal(payload.sub, "alice");
    assert.equal((await Deno.stat(devKeyPath(stateDir))).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("loadOrCreateDevKey() yields one key when several callers race to create it", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-idp-" });
  try {
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateDevKey(stateDir)));
    assert.equal(new Set(keys.map((k) => k.kid)).size, 1);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("loadOrCreateDevKey() names the file when it is not a usable key", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-idp-" });
  try {
    await Deno.mkdir(`${stateDir}/idp`);
    await Deno.writeTextFile(devKeyPath(stateDir), "{}");
    await assert.rejects(loadOrCreateDevKey(stateDir), /key\.jwk is not a P-256 private JWK/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("parseTokenRequest() dedupes roles", () => {
  const parsed = parseTokenRequest({ sub: "a", roles: ["ADMIN", "ADMIN"] });
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.value.roles, ["ADMIN"]);
});

Deno.test("DevIdp.issueToken() rejects a bad subject", async () => {
  await withIdp(async (idp) => {
    await assert.rejects(idp.issueToken(""), /Cannot issue a token as sub must be/);
  });
});
