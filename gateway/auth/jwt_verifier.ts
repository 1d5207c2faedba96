/**
 * Verifies bearer tokens (JWTs) against the identity provider's keys and
 * turns them into a {@link Principal}.
 *
 * Two kinds of failure are kept apart: a token that is not acceptable
 * (expired, wrong audience, bad signature, unknown key, …) is the caller's
 * problem and answers 401; keys that cannot be fetched are ours and answer
 * 503, so that an IdP outage never looks like every user being logged out.
 */

import * as jose from "jose";
import { AppError, isRole, type Principal, type Role } from "@securepay/shared";

/** Turns a bearer token into the principal it proves. */
export interface TokenVerifier {
  /** Throws AppError `unauthenticated` or `upstream_unavailable`. */
  verify(token: string): Promise<Principal>;
}

/** Where verification keys come from: jose's key resolver function. */
export type KeySource = jose.JWTVerifyGetKey;

/** The only signature algorithms accepted; never `none`, never HMAC. */
export const ALLOWED_ALGORITHMS = ["RS256", "ES256", "EdDSA"] as const;

/** Bounds on what a token may carry, so a caller cannot make us work hard. */
export const TOKEN_CHARS_MAX = 8_192;
const SUBJECT_CHARS_MAX = 255;
const ROLES_MAX = 32;

export interface JwtVerifierOptions {
  keys: KeySource;
  issuer: string;
  audience: string;
  clockToleranceSeconds?: number;
  /** Clock for `exp`/`nbf` checks; the system clock unless a test injects one. */
  now?: () => Date;
}

/** Keys fetched from `url` (cached, refetched on an unknown `kid` at most every 30 s). */
export function remoteKeySource(url: string, options: { timeoutMs?: number } = {}): KeySource {
  return jose.createRemoteJWKSet(new URL(url), {
    timeoutDuration: options.timeoutMs ?? 3_000,
    cooldownDuration: 30_000,
    cacheMaxAge: 600_000,
  });
}

/** Keys given in advance, for tests and static configurations. */
export function localKeySource(jwks: jose.JSONWebKeySet): KeySource {
  return jose.createLocalJWKSet(jwks);
}

/** Raised inside the verifier when the key source itself failed. */
class KeySourceUnavailable extends Error {
  constructor(cause: unknown) {
    super("Cannot verify the token as the key set is unavailable", { cause });
    this.name = "KeySourceUnavailable";
  }
}

/** Errors of a key source that say something about the token, not about the source. */
function isTokenProblem(error: unknown): boolean {
  return error instanceof jose.errors.JWKSNoMatchingKey ||
    error instanceof jose.errors.JWKSMultipleMatchingKeys ||
    error instanceof jose.errors.JOSENotSupported ||
    error instanceof jose.errors.JWSInvalid ||
    error instanceof jose.errors.JWTInvalid;
}

export function createJwtVerifier(options: JwtVerifierOptions): TokenVerifier {
  if (options.issuer === "") throw new TypeError("Cannot create a JWT verifier as the issuer is empty");
  if (options.audience === "") throw new TypeError("Cannot create a JWT verifier as the audience is empty");
  const keys: KeySource = async (header, token) => {
    try {
      return await options.keys(header, token);
    } catch (error) {
      if (isTokenProblem(error)) throw error;
      throw new KeySourceUnavailable(error);
    }
  };
  const verifyOptions: jose.JWTVerifyOptions = {
    issuer: options.issuer,
    audience: options.audience,
    algorithms: [...ALLOWED_ALGORITHMS],
    clockTolerance: options.clockToleranceSeconds ?? 5,
    requiredClaims: ["sub", "exp"],
  };

  return {
    async verify(token) {
      if (token.length === 0 || token.length > TOKEN_CHARS_MAX) throw invalidToken();
      let payload: jose.JWTPayload;
      try {
        const now = options.now?.();
        ({ payload } = await jose.jwtVerify(token, keys, now ? { ...verifyOptions, currentDate: now } : verifyOptions));
      } catch (error) {
        if (error instanceof KeySourceUnavailable) {
          throw new AppError("upstream_unavailable", "the identity provider's keys are unavailable", { cause: error });
        }
        throw invalidToken(error);
      }
      return principalOf(payload);
    },
  };
}

function principalOf(payload: jose.JWTPayload): Principal {
  const subject = payload.sub;
  if (typeof subject !== "string" || subject.length === 0 || subject.length > SUBJECT_CHARS_MAX) {
    throw invalidToken();
  }
  const claim = (payload as { roles?: unknown }).roles;
  let roles: Role[] = [];
  if (claim !== undefined) {
    if (!Array.isArray(claim) || claim.length > ROLES_MAX || !claim.every((r) => typeof r === "string")) {
      throw invalidToken();
    }
    // Names this platform does not know grant nothing; a claim made only of
    // such names (a disabled or misspelt role) grants nothing either, rather
    // than falling back to USER.
    roles = [...new Set(claim.filter(isRole))];
    if (claim.length > 0 && roles.length === 0) throw invalidToken();
  }
  return { subject, roles: roles.length > 0 ? roles : ["USER"] };
}

/** The one answer for every unacceptable token: it never says which check failed. */
export function invalidToken(cause?: unknown): AppError {
  return new AppError("unauthenticated", "the bearer token is invalid or expired", { cause });
}
