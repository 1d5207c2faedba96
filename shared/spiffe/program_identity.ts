/**
 * A program's identity as its composition root sees it: read from the
 * environment with the rest of the configuration, opened once, and asked
 * for server and client credentials by the name of the peer.
 *
 * Production and `deno task dev` always use SVIDs from the Workload API at
 * SPIFFE_ENDPOINT_SOCKET. GRPC_INSECURE_LOOPBACK=true exists only for
 * component tests that run one program without a Workload API; it is
 * refused unless every gRPC address of the program is on the loopback.
 */

import { type ChannelCredentials, credentials, ServerCredentials } from "@grpc/grpc-js";
import { type EnvReader, envReader } from "../config.ts";
import type { Logger } from "../log.ts";
import { mtlsClientCredentials, mtlsServerCredentials } from "./grpc_credentials.ts";
import { authorizeCallersOf, authorizeServer, CALLERS_OF, type Workload } from "./identities.ts";
import { parseWorkloadEndpoint } from "./workload_endpoint.ts";
import { openX509Source } from "./workload_x509_source.ts";
import type { X509Source } from "./x509_source.ts";

export type ProgramIdentityConfig =
  | { readonly kind: "spiffe"; readonly endpoint: string }
  | { readonly kind: "insecure-loopback" };

const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "::1", "[::1]"]);

/** True when `hostOrAddress` ("host" or "host:port") names the loopback. */
export function isLoopback(hostOrAddress: string): boolean {
  const bareIpv6 = !hostOrAddress.startsWith("[") && hostOrAddress.split(":").length > 2;
  const host = hostOrAddress.startsWith("[")
    ? hostOrAddress.slice(0, hostOrAddress.indexOf("]") + 1)
    : bareIpv6
    ? hostOrAddress
    : hostOrAddress.replace(/:\d+$/, "");
  return LOOPBACK_HOSTS.has(host);
}

/**
 * Reads SPIFFE_ENDPOINT_SOCKET or GRPC_INSECURE_LOOPBACK into the reader's
 * problems. `grpcAddresses` are every address the program binds or dials
 * for gRPC; the insecure mode is refused unless all are loopback.
 */
export function readProgramIdentity(r: EnvReader, grpcAddresses: readonly string[]): ProgramIdentityConfig {
  const socket = r.optional("SPIFFE_ENDPOINT_SOCKET");
  const insecure = r.bool("GRPC_INSECURE_LOOPBACK", false);
  if (socket !== undefined) {
    try {
      parseWorkloadEndpoint(socket);
    } catch (error) {
      r.problem(`SPIFFE_ENDPOINT_SOCKET is invalid: ${(error as Error).message}`);
    }
    if (insecure) r.problem("GRPC_INSECURE_LOOPBACK cannot be combined with SPIFFE_ENDPOINT_SOCKET");
    return { kind: "spiffe", endpoint: socket };
  }
  if (!insecure) {
    r.problem("SPIFFE_ENDPOINT_SOCKET is required (the Workload API socket, e.g. unix:///run/spire/agent.sock)");
    return { kind: "insecure-loopback" };
  }
  const exposed = grpcAddresses.filter((a) => !isLoopback(a));
  if (exposed.length > 0) {
    r.problem(`GRPC_INSECURE_LOOPBACK is only allowed on the loopback, not for ${exposed.join(", ")}`);
  }
  return { kind: "insecure-loopback" };
}

export interface ProgramIdentity extends AsyncDisposable {
  /** Credentials of a gRPC server that admits the callers DESIGN §3 allows. */
  serverCredentials(service: keyof typeof CALLERS_OF): ServerCredentials;
  /** Credentials for dialing `server`, which must present that workload's SVID. */
  clientCredentials(server: Workload): ChannelCredentials;
  /** The live source, when there is one (readiness, tests). */
  readonly source: X509Source | undefined;
}

/** Opens the identity; with SPIFFE, resolves once the first SVID arrived (bounded). */
export async function openProgramIdentity(
  config: ProgramIdentityConfig,
  options: { logger: Logger; firstUpdateTimeoutMs?: number },
): Promise<ProgramIdentity> {
  if (config.kind === "insecure-loopback") {
    options.logger.warn("gRPC runs WITHOUT mutual TLS on the loopback (GRPC_INSECURE_LOOPBACK=true); tests only");
    return {
      serverCredentials: () => ServerCredentials.createInsecure(),
      clientCredentials: () => credentials.createInsecure(),
      source: undefined,
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
  }
  const source = await openX509Source({
    address: config.endpoint,
    logger: options.logger,
    firstUpdateTimeoutMs: options.firstUpdateTimeoutMs,
  });
  options.logger.info("workload identity obtained", { spiffe_id: source.getX509Svid().id.toString() });
  return {
    serverCredentials: (service) =>
      mtlsServerCredentials(source, { authorize: authorizeCallersOf(service), logger: options.logger }),
    clientCredentials: (server) => mtlsClientCredentials(source, { authorize: authorizeServer(server) }),
    source,
    [Symbol.asyncDispose]: () => source.close(),
  };
}

/** Parses the identity settings alone; throws ConfigError with every problem. */
export function parseProgramIdentity(
  env: Record<string, string | undefined>,
  grpcAddresses: readonly string[],
): ProgramIdentityConfig {
  const r = envReader(env);
  const config = readProgramIdentity(r, grpcAddresses);
  r.done();
  return config;
}
