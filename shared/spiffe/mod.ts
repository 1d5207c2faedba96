/**
 * @module
 * SPIFFE identities for SecurePay (modelled on go-spiffe v2): SPIFFE IDs,
 * the Workload API client and X509Source, X.509-SVID verification,
 * authorizers, grpc-js mTLS credentials, and DESIGN §3's identity table.
 */

export * from "./authorizer.ts";
export * from "./grpc_credentials.ts";
export * from "./identities.ts";
export * from "./spiffe_id.ts";
export * from "./workload_api_client.ts";
export * from "./workload_endpoint.ts";
export * from "./workload_x509_source.ts";
export * from "./x509_bundle.ts";
export * from "./x509_issuer.ts";
export * from "./x509_source.ts";
export * from "./x509_svid.ts";
export * from "./program_identity.ts";
