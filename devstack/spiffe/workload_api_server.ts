/**
 * devstack's SPIFFE Workload API server, standing in for a SPIRE agent:
 * a local CA (key and self-signed root persisted under
 * `<stateDir>/spiffe/`), one unix socket per workload at
 * `<stateDir>/spiffe/<name>.sock` so that the socket identifies the
 * workload (as a per-node agent's attestation would), X.509-SVIDs with a
 * configurable TTL pushed again at half-life, FetchX509Bundles, and the
 * trust bundle in `<stateDir>/spiffe/bundle.pem`.
 *
 * Per the standard: InvalidArgument when the `workload.spiffe.io: true`
 * header is missing, PermissionDenied "no identity issued" on a socket
 * whose workload has no identity; the JWT and WIT profiles answer
 * Unimplemented.
 */

import { Buffer } from "node:buffer";
import { Server, ServerCredentials, type ServerWritableStream, status as GrpcStatus } from "@grpc/grpc-js";
import {
  SpiffeWorkloadAPIService,
  type X509BundlesRequest,
  type X509BundlesResponse,
  type X509SVIDRequest,
  type X509SVIDResponse,
} from "@securepay/shared/gen/spiffe";
import {
  type IssuedCertificate,
  SECURE_PAY_DEFAULTS,
  SECURITY_HEADER,
  SpiffeId,
  TrustDomain,
  X509Issuer,
} from "./_deps.ts";

export interface WorkloadApiOptions {
  /** devstack's state directory; everything lives in `<stateDir>/spiffe/`. */
  stateDir: string;
  /** Lifetime of each X.509-SVID; a fresh one is pushed at half-life. Default 3600 (SPIRE's default). */
  ttlSeconds?: number;
  /** Workloads to serve a socket and an identity for; default the four programs of DESIGN §3. */
  workloads?: readonly string[];
  /** Sockets served without an identity (they answer PermissionDenied), e.g. for tests. */
  unregistered?: readonly string[];
  trustDomain?: string;
  /** Progress messages (issued, rotated, refused). */
  onEvent?: (message: string) => void;
}

export interface WorkloadApiServer extends AsyncDisposable {
  readonly trustDomain: TrustDomain;
  /** `<stateDir>/spiffe` */
  readonly dir: string;
  /** `<stateDir>/spiffe/bundle.pem` */
  readonly bundlePath: string;
  /** The local CA (tests use it to mint their own certificates). */
  readonly ca: X509Issuer;
  /** `unix://<stateDir>/spiffe/<name>.sock`, the value of SPIFFE_ENDPOINT_SOCKET for `name`. */
  endpoint(name: string): string;
  socketPath(name: string): string;
  /** The SPIFFE ID issued on `name`'s socket. */
  idOf(name: string): SpiffeId;
  /** How many SVIDs have been issued to `name` so far. */
  issuedCount(name: string): number;
  /** Issues and pushes a fresh SVID to `name` now. */
  rotate(name: string): Promise<void>;
  close(): Promise<void>;
}

interface WorkloadState {
  readonly name: string;
  readonly id: SpiffeId | undefined;
  current?: IssuedCertificate;
  issued: number;
  timer?: ReturnType<typeof setTimeout>;
  readonly svidStreams: Set<ServerWritableStream<X509SVIDRequest, X509SVIDResponse>>;
  readonly bundleStreams: Set<ServerWritableStream<X509BundlesRequest, X509BundlesResponse>>;
  server?: Server;
}

/** Unix socket paths are limited to about 107 bytes on Linux. */
const MAX_SOCKET_PATH_BYTES = 107;
const WORKLOAD_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export async function startWorkloadApi(options: WorkloadApiOptions): Promise<WorkloadApiServer> {
  const trustDomain = TrustDomain.parse(options.trustDomain ?? SECURE_PAY_DEFAULTS.trustDomain);
  const ttlSeconds = options.ttlSeconds ?? 3600;
  if (!Number.isFinite(ttlSeconds) || ttlSeconds < 2 || ttlSeconds > 30 * 24 * 3600) {
    throw new RangeError(`Cannot serve the Workload API as the SVID TTL is out of range (2 s…30 d): ${ttlSeconds}`);
  }
  const say = options.onEvent ?? (() => {});
  const dir = `${options.stateDir.replace(/\/$/, "")}/spiffe`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const ca = await loadOrCreateCa(dir, trustDomain);
  const bundleDer = Buffer.from(ca.bundle().der());
  const bundlePath = `${dir}/bundle.pem`;
  await Deno.writeTextFile(bundlePath, ca.bundle().pem());

  const names = [...(options.workloads ?? SECURE_PAY_DEFAULTS.workloads)];
  const unregistered = [...(options.unregistered ?? [])];
  const states = new Map<string, WorkloadState>();
  for (const name of [...names, ...unregistered]) {
    if (!WORKLOAD_NAME.test(name)) throw new TypeError(`Cannot serve a workload as its name is invalid: ${name}`);
    if (states.has(name)) throw new TypeError(`Cannot serve a workload twice: ${name}`);
    states.set(name, {
      name,
      id: names.includes(name) ? trustDomain.id(`/${name}`) : undefined,
      issued: 0,
      svidStreams: new Set(),
      bundleStreams: new Set(),
    });
  }
  const socketPath = (name: string) => `${dir}/${name}.sock`;
  for (const name of states.keys()) {
    if (new TextEncoder().encode(socketPath(name)).length > MAX_SOCKET_PATH_BYTES) {
      throw new RangeError(`Cannot serve the Workload API as the socket path is too long: ${socketPath(name)}`);
    }
  }

  let closing = false;
  const svidResponse = (state: WorkloadState): X509SVIDResponse => ({
    svids: [{
      spiffeId: state.id!.toString(),
      x509Svid: Buffer.from(state.current!.chainDer),
      x509SvidKey: Buffer.from(state.current!.keyDer),
      bundle: bundleDer,
      hint: "",
    }],
    crl: [],
    federatedBundles: {},
  });

  const issue = async (state: WorkloadState) => {
    clearTimeout(state.timer);
    // The DNS SAN is the workload name, as a Kubernetes service name would be;
    // SPIFFE-aware peers ignore it, plain TLS clients can verify it.
    state.current = await ca.issueSvid(state.id!, { ttlSeconds, dnsNames: [state.name] });
    state.issued += 1;
    for (const stream of state.svidStreams) stream.write(svidResponse(state));
    // Renewed at half-life, as SPIRE's agent does, so a peer never sees an expired SVID.
    if (!closing) state.timer = setTimeout(() => void issue(state).catch(onIssueError(state)), ttlSeconds * 500);
  };
  const onIssueError = (state: WorkloadState) => (error: unknown) =>
    say(`cannot issue an SVID for ${state.name}: ${(error as Error).message}`);

  const refuse = (call: ServerWritableStream<unknown, unknown>, state: WorkloadState): boolean => {
    const values = call.metadata.get(SECURITY_HEADER);
    if (values.length !== 1 || values[0] !== "true") {
      call.emit("error", { code: GrpcStatus.INVALID_ARGUMENT, details: "security header missing from request" });
      return true;
    }
    if (!state.id) {
      say(`refused an SVID request on ${state.name}.sock: no identity issued`);
      call.emit("error", { code: GrpcStatus.PERMISSION_DENIED, details: "no identity issued" });
      return true;
    }
    return false;
  };

  const implementation = (state: WorkloadState) => ({
    fetchX509Svid(call: ServerWritableStream<X509SVIDRequest, X509SVIDResponse>) {
      if (refuse(call as ServerWritableStream<unknown, unknown>, state)) return;
      state.svidStreams.add(call);
      call.on("cancelled", () => state.svidStreams.delete(call));
      call.on("close", () => state.svidStreams.delete(call));
      // The first response goes out at once (Workload API §4.2).
      call.write(svidResponse(state));
    },
    fetchX509Bundles(call: ServerWritableStream<X509BundlesRequest, X509BundlesResponse>) {
      if (refuse(call as ServerWritableStream<unknown, unknown>, state)) return;
      state.bundleStreams.add(call);
      call.on("cancelled", () => state.bundleStreams.delete(call));
      call.on("close", () => state.bundleStreams.delete(call));
      call.write({ crl: [], bundles: { [trustDomain.idString()]: bundleDer } });
    },
  });

  const started: WorkloadState[] = [];
  const stop = async () => {
    closing = true;
    await Promise.all(started.map(async (state) => {
      clearTimeout(state.timer);
      for (const stream of [...state.svidStreams, ...state.bundleStreams]) stream.end();
      state.svidStreams.clear();
      state.bundleStreams.clear();
      const server = state.server;
      if (server) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2_000);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      await Deno.remove(socketPath(state.name)).catch(() => {});
    }));
  };

  try {
    for (const state of states.values()) {
      if (state.id) await issue(state);
      await Deno.remove(socketPath(state.name)).catch(() => {});
      const server = new Server({ "grpc.max_concurrent_streams": 100 });
      // Only the two X.509 methods are registered; grpc-js answers Unimplemented for the others.
      server.addService(
        {
          fetchX509Svid: SpiffeWorkloadAPIService.fetchX509Svid,
          fetchX509Bundles: SpiffeWorkloadAPIService.fetchX509Bundles,
        },
        implementation(state),
      );
      state.server = server;
      started.push(state);
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix://${socketPath(state.name)}`, ServerCredentials.createInsecure(), (error) => {
          if (error) reject(new Error(`Cannot serve the Workload API on ${socketPath(state.name)}`, { cause: error }));
          else resolve();
        })
      );
      await Deno.chmod(socketPath(state.name), 0o600);
      say(
        state.id
          ? `Workload API for ${state.id} on ${socketPath(state.name)} (SVID TTL ${ttlSeconds} s)`
          : `Workload API without identity on ${socketPath(state.name)}`,
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const stateOf = (name: string) => {
    const state = states.get(name);
    if (!state) throw new RangeError(`Cannot find workload as it is not served: ${name}`);
    return state;
  };
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= stop());
  return {
    trustDomain,
    dir,
    bundlePath,
    ca,
    endpoint: (name) => `unix://${socketPath(stateOf(name).name)}`,
    socketPath: (name) => socketPath(stateOf(name).name),
    idOf: (name) => {
      const id = stateOf(name).id;
      if (!id) throw new RangeError(`Cannot name the id of ${name} as it has none`);
      return id;
    },
    issuedCount: (name) => stateOf(name).issued,
    rotate: (name) => issue(stateOf(name)),
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function loadOrCreateCa(dir: string, trustDomain: TrustDomain): Promise<X509Issuer> {
  const certPath = `${dir}/ca.pem`;
  const keyPath = `${dir}/ca.key.pem`;
  try {
    const [certificate, privateKey] = await Promise.all([Deno.readTextFile(certPath), Deno.readTextFile(keyPath)]);
    const ca = await X509Issuer.fromPem(trustDomain, { certificate, privateKey });
    if (ca.certificate.notAfter.getTime() > Date.now() + 24 * 3600_000) return ca;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const ca = await X509Issuer.createRoot(trustDomain);
  const pem = await ca.toPem();
  await Deno.writeTextFile(keyPath, pem.privateKey, { mode: 0o600 });
  await Deno.writeTextFile(certPath, pem.certificate);
  return ca;
}
