/**
 * The Workload API endpoint address from `SPIFFE_ENDPOINT_SOCKET`, per the
 * SPIFFE Workload Endpoint standard: an RFC 3986 URI that is either
 * `unix:///absolute/path` (no authority, no query, no fragment) or
 * `tcp://<IP>:<port>` (an IP literal, a port, nothing else).
 */

import { isIP } from "node:net";

/** The environment variable every SPIFFE client falls back to. */
export const SPIFFE_ENDPOINT_SOCKET = "SPIFFE_ENDPOINT_SOCKET";

export type WorkloadEndpoint =
  | { readonly scheme: "unix"; readonly path: string; readonly grpcTarget: string }
  | { readonly scheme: "tcp"; readonly host: string; readonly port: number; readonly grpcTarget: string };

/** Why an endpoint address was rejected. */
export class WorkloadEndpointError extends Error {
  override readonly name = "WorkloadEndpointError";
}

/** Parses a Workload API address; throws WorkloadEndpointError naming the broken rule. */
export function parseWorkloadEndpoint(value: string): WorkloadEndpoint {
  const fail = (rule: string): never => {
    throw new WorkloadEndpointError(`workload endpoint socket URI ${rule}`);
  };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return fail("is not a valid URI");
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== "unix" && scheme !== "tcp") return fail('must have a "tcp" or "unix" scheme');
  // A URI without `//` has an opaque part instead of an authority and a path.
  if (!value.slice(scheme.length + 1).startsWith("//")) return fail("must not be opaque");
  if (url.username !== "" || url.password !== "") return fail("must not include user info");
  if (url.search !== "" || value.includes("?")) return fail("must not include query values");
  if (url.hash !== "" || value.includes("#")) return fail("must not include a fragment");

  if (scheme === "unix") {
    if (url.host !== "") return fail("must not include an authority component");
    if (url.pathname === "" || url.pathname === "/") return fail("must include a path");
    const path = decodeURIComponent(url.pathname);
    return { scheme, path, grpcTarget: `unix://${path}` };
  }

  if (url.pathname !== "" && url.pathname !== "/") return fail("must not include a path");
  if (value.replace(/\/$/, "") !== value && url.pathname === "/") return fail("must not include a path");
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(host) === 0) return fail("host component must be an IP:port");
  if (url.port === "") return fail("must include a port");
  const port = Number(url.port);
  return { scheme, host, port, grpcTarget: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

/**
 * The endpoint from an explicit address, else from `SPIFFE_ENDPOINT_SOCKET`
 * in `env`; throws WorkloadEndpointError when neither is set.
 */
export function workloadEndpointFromEnv(env: Record<string, string | undefined>, address?: string): WorkloadEndpoint {
  const value = address ?? env[SPIFFE_ENDPOINT_SOCKET];
  if (value === undefined || value.trim() === "") {
    throw new WorkloadEndpointError(`workload endpoint socket address is not configured (${SPIFFE_ENDPOINT_SOCKET})`);
  }
  return parseWorkloadEndpoint(value.trim());
}
