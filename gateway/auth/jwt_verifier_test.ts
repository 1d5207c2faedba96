import assert from "node:assert/strict";
import { AppError } from "@securepay/shared";
import { startTestIdp, type TestIdp } from "../tests/_test_idp.ts";
import { createJwtVerifier, remoteKeySource, type TokenVerifier } from "./jwt_verifier.ts";

function verifierFor(idp: TestIdp, options: { clockToleranceSeconds?: number } = {}): TokenVerifier {
  return createJwtVerifier({
    keys: remoteKeySource(idp.jwksUrl, { timeoutMs: 2_000 }),
    issuer: idp.issuer,
    audience: idp.audience,
    clockToleranceSeconds: options.clockToleranceSeconds ?? 5,
  });
}

async function assertCode(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof AppError, `expected AppError, got ${error}`);
    assert.equal(error.code, code);
    return true;
  });
}

Deno.test("verify() accepts RS256, ES256 and EdDSA tokens from the JWKS", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  for (const alg of ["RS256", "ES256", "EdDSA"] as const) {
    const principal = await verifier.verify(await idp.sign({ alg, sub: `user-${alg}` }));
    assert.deepEqual(principal, { subject: `user-${alg}`, roles: ["USER"] });
  }
});

Deno.test("verify() keeps known roles, drops unknown ones, falls back to USER only without any, and refuses unknown-only", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  assert.deepEqual(
    (await verifier.verify(await idp.sign({ roles: ["ADMIN", "WIZARD", "AUDITOR", "ADMIN"] }))).roles,
    ["ADMIN", "AUDITOR"],
  );
  await assertCode(verifier.verify(await idp.sign({ roles: ["WIZARD"] })), "unauthenticated");
  await assertCode(verifier.verify(await idp.sign({ roles: ["admin"] })), "unauthenticated");
  assert.deepEqual((await verifier.verify(await idp.sign({ roles: [] }))).roles, ["USER"]);
});

Deno.test("verify() rejects a roles claim that is not an array of strings", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  await assertCode(verifier.verify(await idp.sign({ roles: "ADMIN" })), "unauthenticated");
  await assertCode(verifier.verify(await idp.sign({ roles: ["ADMIN", 1] })), "unauthenticated");
});

Deno.test("verify() rejects expired and not-yet-valid tokens beyond the clock tolerance", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp, { clockToleranceSeconds: 5 });
  await assertCode(verifier.verify(await idp.sign({ expiresInSeconds: -60 })), "unauthenticated");
  await assertCode(verifier.verify(await idp.sign({ notBeforeInSeconds: 60 })), "unauthenticated");
  // Within the tolerance, a clock a little behind or ahead is forgiven.
  await verifier.verify(await idp.sign({ expiresInSeconds: -2 }));
  await verifier.verify(await idp.sign({ notBeforeInSeconds: 2 }));
});

Deno.test("verify() rejects tokens for another audience or from another issuer", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  await assertCode(verifier.verify(await idp.sign({ audience: "other-api" })), "unauthenticated");
  await assertCode(verifier.verify(await idp.sign({ issuer: "https://evil.example" })), "unauthenticated");
});

Deno.test("verify() rejects tokens without sub or exp", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  await assertCode(verifier.verify(await idp.sign({ withExpiry: false })), "unauthenticated");
  await assertCode(verifier.verify(await idp.sign({ sub: "" })), "unauthenticated");
  await assertCode(verifier.verify(await idp.sign({ sub: "x".repeat(256) })), "unauthenticated");
});

Deno.test("verify() rejects alg none, HS256 keyed with the public key, and unknown kids", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  await assertCode(verifier.verify(idp.unsignedToken()), "unauthenticated");
  await assertCode(verifier.verify(await idp.hmacWithPublicKeyToken()), "unauthenticated");
  await assertCode(verifier.verify(await idp.foreignKeyToken()), "unauthenticated");
  // A known kid does not help a signature made by another key.
  await assertCode(verifier.verify(await idp.foreignKeyToken({ kid: idp.kids.RS256 })), "unauthenticated");
});

Deno.test("verify() rejects garbage and oversized tokens", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  for (const token of ["", "abc", "a.b.c", "x".repeat(9_000)]) {
    await assertCode(verifier.verify(token), "unauthenticated");
  }
  const valid = await idp.sign();
  const [h, p] = valid.split(".");
  await assertCode(verifier.verify(`${h}.${p}.${"A".repeat(342)}`), "unauthenticated");
});

Deno.test("verify() answers upstream_unavailable when the JWKS cannot be fetched", async () => {
  await using idp = await startTestIdp();
  idp.failJwks(true);
  await assertCode(verifierFor(idp).verify(await idp.sign()), "upstream_unavailable");

  const unreachable = createJwtVerifier({
    keys: remoteKeySource("http://127.0.0.1:1/.well-known/jwks.json", { timeoutMs: 1_000 }),
    issuer: idp.issuer,
    audience: idp.audience,
  });
  await assertCode(unreachable.verify(await idp.sign()), "upstream_unavailable");
});

Deno.test("verify() fetches the JWKS once and reuses it", async () => {
  await using idp = await startTestIdp();
  const verifier = verifierFor(idp);
  for (let i = 0; i < 5; i++) await verifier.verify(await idp.sign());
  assert.equal(idp.jwksRequests, 1);
});
