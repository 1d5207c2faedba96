/** What devstack's Workload API server takes from shared/spiffe. */

import { SECUREPAY_TRUST_DOMAIN, WORKLOADS } from "@securepay/shared/spiffe";

export { type IssuedCertificate, SECURITY_HEADER, SpiffeId, TrustDomain, X509Issuer } from "@securepay/shared/spiffe";

export const SECURE_PAY_DEFAULTS = {
  trustDomain: SECUREPAY_TRUST_DOMAIN.name,
  workloads: WORKLOADS,
} as const;
