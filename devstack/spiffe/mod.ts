/** @module devstack's SPIFFE Workload API server (a local stand-in for a SPIRE agent). */
export * from "./workload_api_server.ts";
