/**
 * A real identity provider for tests: fresh key pairs, a JWKS served over
 * HTTP from a local Deno.serve on port 0, and really signed tokens, so that
 * the gateway's verification is exercised exactly as in production.
 */

import * as jose from "jose";

export type SigningAlgorithm = "RS256" | "ES256" | "EdDSA";

export interface SignOptions {
  sub?: string;
  roles?: unknown;
  alg?: SigningAlgorithm;
  /** Seconds from now; negative for an expired token. */
  expiresInSeconds?: number;
  /** Seconds from now for `nbf`. */
  notBeforeInSeconds?: number;
  audience?: string;
  issuer?: string;
  /** Overrides the key id in the header. */
  kid?: string;
  /** Extra claims, written as given. */
  claims?: Record<string, unknown>;
  /** Leaves out `exp` when false. */
  withExpiry?: boolean;
}

export interface TestIdp extends AsyncDisposable {
  readonly issuer: string;
  readonly audience: string;
  readonly jwksUrl: string;
  /** The key id of each algorithm's key in the JWKS. */
  readonly kids: Readonly<Record<SigningAlgorithm, string>>;
  /** Number of JWKS requests served so far. */
  readonly jwksRequests: number;
  /** Makes the JWKS endpoint answer 500 (true) or normally (false). */
  failJwks(failing: boolean): void;
  sign(options?: SignOptions): Promise<string>;
  /** A token with `alg: none` and no signature. */
  unsignedToken(options?: SignOptions): string;
  /** A token signed with HS256, using the RS256 public key (PEM) as the HMAC secret. */
  hmacWithPublicKeyToken(options?: SignOptions): Promise<string>;
  /** A token signed by a key the JWKS does not list, with that key's own kid. */
  foreignKeyToken(options?: SignOptions): Promise<string>;
}

interface KeyEntry {
  kid: string;
  privateKey: jose.CryptoKey;
  publicKey: jose.CryptoKey;
}

async function keyEntry(alg: SigningAlgorithm): Promise<KeyEntry> {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  return { kid: `${alg.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`, privateKey, publicKey };
}

export async function startTestIdp(options: { audience?: string } = {}): Promise<TestIdp> {
  const keys: Record<SigningAlgorithm, KeyEntry> = {
    RS256: await keyEntry("RS256"),
    ES256: await keyEntry("ES256"),
    EdDSA: await keyEntry("EdDSA"),
  };
  const jwks: jose.JSONWebKeySet = {
    keys: await Promise.all(
      (Object.entries(keys) as [SigningAlgorithm, KeyEntry][]).map(async ([alg, k]) => ({
        ...(await jose.exportJWK(k.publicKey)),
        kid: k.kid,
        alg,
        use: "sig",
      })),
    ),
  };
  let failing = false;
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    requests++;
    if (new URL(request.url).pathname !== "/.well-known/jwks.json") return new Response("not found", { status: 404 });
    if (failing) return new Response("unavailable", { status: 500 });
    return Response.json(jwks);
  });
  const issuer = `http://127.0.0.1:${server.addr.port}`;
  const audience = options.audience ?? "securepay-api";

  const claimsOf = (o: SignOptions) => {
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = {
      sub: o.sub ?? "alice",
      iss: o.issuer ?? issuer,
      aud: o.audience ?? audience,
      iat: now,
      ...o.claims,
    };
    if (o.withExpiry !== false) payload.exp = now + (o.expiresInSeconds ?? 300);
    if (o.roles !== undefined) payload.roles = o.roles;
    if (o.notBeforeInSeconds !== undefined) payload.nbf = now + o.notBeforeInSeconds;
    return payload;
  };
  const signWith = (key: KeyEntry, alg: string, o: SignOptions) =>
    new jose.SignJWT(claimsOf(o) as jose.JWTPayload)
      .setProtectedHeader({ alg, kid: o.kid ?? key.kid, typ: "JWT" })
      .sign(key.privateKey);

  return {
    issuer,
    audience,
    jwksUrl: `${issuer}/.well-known/jwks.json`,
    kids: { RS256: keys.RS256.kid, ES256: keys.ES256.kid, EdDSA: keys.EdDSA.kid },
    get jwksRequests() {
      return requests;
    },
    failJwks(value) {
      failing = value;
    },
    sign(o = {}) {
      const alg = o.alg ?? "RS256";
      return signWith(keys[alg], alg, o);
    },
    unsignedToken(o = {}) {
      const encode = (value: unknown) => jose.base64url.encode(JSON.stringify(value));
      return `${encode({ alg: "none", typ: "JWT" })}.${encode(claimsOf(o))}.`;
    },
    async hmacWithPublicKeyToken(o = {}) {
      const spki = await jose.exportSPKI(keys.RS256.publicKey);
      return new jose.SignJWT(claimsOf(o) as jose.JWTPayload)
        .setProtectedHeader({ alg: "HS256", kid: o.kid ?? keys.RS256.kid, typ: "JWT" })
        .sign(new TextEncoder().encode(spki));
    },
    async foreignKeyToken(o = {}) {
      return signWith(await keyEntry("RS256"), "RS256", o);
    },
    [Symbol.asyncDispose]: async () => {
      await server.shutdown();
    },
  };
}
