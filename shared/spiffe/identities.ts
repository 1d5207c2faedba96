/**
 * DESIGN.md §3 as constants: the trust domain, each program's SPIFFE ID and
 * who may call whom. Servers authorize their callers from CALLERS_OF;
 * clients expect the server's id from SERVICE_IDS.
 */

import { authorizeId, authorizeOneOf, type Authorizer } from "./authorizer.ts";
import { type SpiffeId, TrustDomain } from "./spiffe_id.ts";

export const SECUREPAY_TRUST_DOMAIN: TrustDomain = TrustDomain.parse("securepay.dev");

/** The workload names, which are also the paths of their ids and devstack's socket names. */
export const WORKLOADS = ["api-gateway", "payment-service", "account-service", "notification-service"] as const;
export type Workload = typeof WORKLOADS[number];

export const SERVICE_IDS: Readonly<Record<Workload, SpiffeId>> = Object.freeze(
  Object.fromEntries(WORKLOADS.map((w) => [w, SECUREPAY_TRUST_DOMAIN.id(`/${w}`)])) as Record<Workload, SpiffeId>,
);

/** §3 "may be called by", for the programs that serve gRPC. */
export const CALLERS_OF: Readonly<Record<"payment-service" | "account-service", readonly Workload[]>> = Object.freeze({
  "payment-service": Object.freeze(["api-gateway"] as const),
  "account-service": Object.freeze(["api-gateway", "payment-service"] as const),
});

/** The authorizer a server of `service` applies to its callers. */
export function authorizeCallersOf(service: keyof typeof CALLERS_OF): Authorizer {
  return authorizeOneOf(...CALLERS_OF[service].map((w) => SERVICE_IDS[w]));
}

/** The authorizer a client applies to the server it dials. */
export function authorizeServer(service: Workload): Authorizer {
  return authorizeId(SERVICE_IDS[service]);
}
