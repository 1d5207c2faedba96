/**
 * Authorization policy as a function: given the peer's verified SPIFFE ID,
 * throw AuthorizationError (with the reason) or return. Constructors check
 * their arguments once, when the policy is built.
 */

import { SpiffeId, TrustDomain } from "./spiffe_id.ts";

export class AuthorizationError extends Error {
  override readonly name = "AuthorizationError";
}

export type Authorizer = (peer: SpiffeId) => void;

/** Any peer with a verified SVID (use only where every caller in the trust domain is welcome). */
export function authorizeAny(): Authorizer {
  return function authorizeAnyId() {};
}

/** Exactly one SPIFFE ID. */
export function authorizeId(allowed: SpiffeId | string): Authorizer {
  const id = typeof allowed === "string" ? SpiffeId.parse(allowed) : allowed;
  return function authorizeExactId(peer) {
    if (!peer.equals(id)) throw new AuthorizationError(`unexpected ID "${peer}"`);
  };
}

/** One of a fixed set of SPIFFE IDs. */
export function authorizeOneOf(...allowed: readonly (SpiffeId | string)[]): Authorizer {
  if (allowed.length === 0) throw new TypeError("Cannot authorize one of no ids as the list is empty");
  const ids = new Set(allowed.map((a) => (typeof a === "string" ? SpiffeId.parse(a) : a).toString()));
  return function authorizeIdInSet(peer) {
    if (!ids.has(peer.toString())) throw new AuthorizationError(`unexpected ID "${peer}"`);
  };
}

/** Any workload of one trust domain. */
export function authorizeMemberOf(trustDomain: TrustDomain | string): Authorizer {
  const td = typeof trustDomain === "string" ? TrustDomain.parse(trustDomain) : trustDomain;
  return function authorizeTrustDomain(peer) {
    if (!peer.memberOf(td)) throw new AuthorizationError(`unexpected trust domain "${peer.trustDomain}"`);
  };
}
