/**
 * Dev access tokens: the request rules shared by the IdP's `POST /token`
 * and `deno task token`, and the signing itself.
 */

import * as jose from "jose";
import { ROLES } from "@securepay/shared";
import type { Role } from "@securepay/shared";
import { DEV_KEY_ALG, type DevKey } from "./dev_key.ts";

export const DEV_AUDIENCE = "securepay-api";
export const DEV_IDP_PORT = 8089;
/** The fixed issuer scripts rely on (DESIGN §11). */
export const DEV_ISSUER = `http://127.0.0.1:${DEV_IDP_PORT}`;
export const TTL_DEFAULT_SECONDS = 3_600;
export const TTL_MAX_SECONDS = 86_400;
export const SUB_MAX_CHARS = 255;

export interface TokenRequest {
  readonly sub: string;
  readonly roles: readonly Role[];
  readonly ttlSeconds: number;
}

export type TokenRequestResult =
  | { readonly ok: true; readonly value: TokenRequest }
  | { readonly ok: false; readonly issues: readonly string[] };

// Printable ASCII and beyond, but no control characters: a subject ends up
// in logs and headers.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Checks `{sub, roles?, ttl_seconds?}`, collecting every problem at once. */
export function parseTokenRequest(input: unknown): TokenRequestResult {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return { ok: false, issues: ["the body must be a JSON object {sub, roles?, ttl_seconds?}"] };
  }
  const body = input as Record<string, unknown>;
  const issues: string[] = [];
  for (const key of Object.keys(body)) {
    if (!["sub", "roles", "ttl_seconds"].includes(key)) issues.push(`${key} is not a known field`);
  }
  const sub = body.sub;
  if (typeof sub !== "string" || sub.length < 1 || sub.length > SUB_MAX_CHARS) {
    issues.push(`sub must be a string of 1–${SUB_MAX_CHARS} characters`);
  } else if (CONTROL.test(sub)) {
    issues.push("sub must not contain control characters");
  }
  let roles: Role[] = ["USER"];
  if (body.roles !== undefined) {
    if (!Array.isArray(body.roles) || body.roles.length > ROLES.length) {
      issues.push(`roles must be a list of at most ${ROLES.length} of ${ROLES.join(", ")}`);
    } else {
      const unknown = body.roles.filter((r) => !(ROLES as readonly unknown[]).includes(r));
      if (unknown.length > 0) {
        issues.push(`roles must be among ${ROLES.join(", ")}: got ${unknown.map((r) => JSON.stringify(r)).join(", ")}`);
      } else {
        roles = [...new Set(body.roles as Role[])];
      }
    }
  }
  let ttlSeconds = TTL_DEFAULT_SECONDS;
  if (body.ttl_seconds !== undefined) {
    const ttl = body.ttl_seconds;
    if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1 || ttl > TTL_MAX_SECONDS) {
      issues.push(`ttl_seconds must be an integer from 1 to ${TTL_MAX_SECONDS}`);
    } else {
      ttlSeconds = ttl;
    }
  }
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: { sub: sub as string, roles, ttlSeconds } };
}

export interface SignOptions {
  readonly issuer: string;
  readonly audience?: string;
  /** Seconds since the epoch; defaults to now. */
  readonly nowSeconds?: number;
}

/** Signs an access token with claims sub, roles, iss, aud, iat, nbf, exp, jti. */
export async function signDevToken(key: DevKey, request: TokenRequest, options: SignOptions): Promise<string> {
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  return await new jose.SignJWT({ roles: [...request.roles] })
    .setProtectedHeader({ alg: DEV_KEY_ALG, kid: key.kid, typ: "JWT" })
    .setSubject(request.sub)
    .setIssuer(options.issuer)
    .setAudience(options.audience ?? DEV_AUDIENCE)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + request.ttlSeconds)
    .setJti(crypto.randomUUID())
    .sign(key.privateKey);
}
