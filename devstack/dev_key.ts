/**
 * The dev IdP's signing key: one ES256 key pair kept as a private JWK in
 * `<stateDir>/idp/key.jwk` (mode 0600), so that tokens stay valid across
 * restarts and `deno task token` signs with the same key whether or not
 * `deno task dev` is running.
 */

import * as jose from "jose";

export const DEV_KEY_ALG = "ES256";

export interface DevKey {
  readonly kid: string;
  readonly privateKey: jose.CryptoKey;
  /** The public half as published in the JWKS (with kid, alg, use). */
  readonly publicJwk: jose.JWK;
}

/** Where the key lives under `stateDir`. */
export function devKeyPath(stateDir: string): string {
  return `${stateDir.replace(/\/$/, "")}/idp/key.jwk`;
}

async function fromPrivateJwk(path: string, jwk: jose.JWK): Promise<DevKey> {
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string" || typeof jwk.kid !== "string") {
    throw new Error(`Cannot load the dev IdP key as ${path} is not a P-256 private JWK with a kid; delete it to renew`);
  }
  const privateKey = await jose.importJWK(jwk, DEV_KEY_ALG) as jose.CryptoKey;
  const { kty, crv, x, y, kid } = jwk;
  return { kid, privateKey, publicJwk: { kty, crv, x, y, kid, alg: DEV_KEY_ALG, use: "sig" } };
}

/**
 * Loads the key, creating it first when missing. Creation is atomic (a
 * temporary file linked into place), so two processes starting together
 * end up with the same key.
 */
export async function loadOrCreateDevKey(stateDir: string): Promise<DevKey> {
  const path = devKeyPath(stateDir);
  const read = async (): Promise<DevKey | undefined> => {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    let jwk: jose.JWK;
    try {
      jwk = JSON.parse(text);
    } catch {
      throw new Error(`Cannot load the dev IdP key as ${path} is not JSON; delete it to renew`);
    }
    return await fromPrivateJwk(path, jwk);
  };

  const existing = await read();
  if (existing) return existing;

  const dir = path.slice(0, path.lastIndexOf("/"));
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const { privateKey } = await jose.generateKeyPair(DEV_KEY_ALG, { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  jwk.kid = await jose.calculateJwkThumbprint(jwk);
  jwk.alg = DEV_KEY_ALG;
  const temp = `${dir}/.key.${crypto.randomUUID()}.tmp`;
  await Deno.writeTextFile(temp, JSON.stringify(jwk, null, 2) + "\n", { mode: 0o600 });
  try {
    await Deno.chmod(temp, 0o600);
    await Deno.link(temp, path);
  } catch (error) {
    // Another process created it first: theirs wins.
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  } finally {
    await Deno.remove(temp).catch(() => {});
  }
  const created = await read();
  if (!created) throw new Error(`Cannot load the dev IdP key as ${path} vanished right after it was created`);
  return created;
}
