/**
 * A SPIFFE Workload API client over grpc-js: every call carries the
 * `workload.spiffe.io: true` security header; FetchX509SVID and
 * FetchX509Bundles streams are kept open and reopened after a drop with
 * linear backoff (1 s, 2 s, … capped at 30 s by default, reset by every
 * message), except after InvalidArgument, which the standard says not to
 * retry. Every message is validated before a watcher sees it; a bad
 * message is reported and skipped, and the previous state stays in use.
 */

import { credentials, Metadata, type ServiceError, status as GrpcStatus } from "@grpc/grpc-js";
import {
  SpiffeWorkloadAPIClient,
  type X509BundlesResponse,
  type X509SVIDResponse,
} from "../gen/spiffe/workload/workload.ts";
import { SpiffeId, TrustDomain } from "./spiffe_id.ts";
import { X509Bundle, X509BundleSet } from "./x509_bundle.ts";
import type { X509Context } from "./x509_source.ts";
import { parseX509Svid, verifyX509Svid, type X509Svid, X509SvidError } from "./x509_svid.ts";
import { parseWorkloadEndpoint, type WorkloadEndpoint } from "./workload_endpoint.ts";

/** The metadata key every Workload API request must carry, with the value "true". */
export const SECURITY_HEADER = "workload.spiffe.io";

/** Upper bound on one Workload API message (SVIDs and bundles are a few KiB). */
export const MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

export interface Watcher<T> {
  onUpdate(value: T): void;
  /** Stream errors (before a retry) and rejected messages. */
  onError?(error: Error): void;
}

export interface WorkloadApiClientOptions {
  /** First retry delay; each further retry waits one more step, up to backoffMaxMs. */
  backoffStepMs?: number;
  backoffMaxMs?: number;
}

/** Everything one FetchX509SVID message says, after validation. */
export interface X509SvidResponse extends X509Context {
  /** All SVIDs in the message; `svid` is the first (the default). */
  readonly svids: readonly X509Svid[];
}

export class WorkloadApiClient {
  readonly endpoint: WorkloadEndpoint;
  readonly #client: SpiffeWorkloadAPIClient;
  readonly #stepMs: number;
  readonly #maxMs: number;

  constructor(endpoint: WorkloadEndpoint | string, options: WorkloadApiClientOptions = {}) {
    this.endpoint = typeof endpoint === "string" ? parseWorkloadEndpoint(endpoint) : endpoint;
    this.#client = new SpiffeWorkloadAPIClient(this.endpoint.grpcTarget, credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    });
    this.#stepMs = options.backoffStepMs ?? 1_000;
    this.#maxMs = options.backoffMaxMs ?? 30_000;
  }

  /** Watches X.509 SVIDs until `signal` aborts or the server answers InvalidArgument (then rejects). */
  watchX509Context(watcher: Watcher<X509SvidResponse>, signal: AbortSignal): Promise<void> {
    return this.#watch(
      () => this.#client.fetchX509Svid({}, securityHeader()),
      (message: X509SVIDResponse) => parseX509SvidResponse(message),
      watcher,
      signal,
    );
  }

  /** Watches the X.509 bundles until `signal` aborts or the server answers InvalidArgument (then rejects). */
  watchX509Bundles(watcher: Watcher<X509BundleSet>, signal: AbortSignal): Promise<void> {
    return this.#watch(
      () => this.#client.fetchX509Bundles({}, securityHeader()),
      (message: X509BundlesResponse) => parseX509BundlesResponse(message),
      watcher,
      signal,
    );
  }

  /** The first valid X509SVID message, then the stream is closed. */
  async fetchX509Context(options: { timeoutMs?: number } = {}): Promise<X509SvidResponse> {
    const controller = new AbortController();
    const timeoutMs = options.timeoutMs ?? 10_000;
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      let first: X509SvidResponse | undefined;
      let lastError: Error | undefined;
      await this.watchX509Context({
        onUpdate(value) {
          first = value;
          controller.abort();
        },
        onError(error) {
          lastError = error;
        },
      }, controller.signal);
      if (!first) {
        throw new Error(`Cannot fetch an X.509-SVID as none arrived within ${timeoutMs} ms`, { cause: lastError });
      }
      return first;
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.#client.close();
  }

  async #watch<M, T>(
    open: () => NodeJS.EventEmitter & { cancel(): void },
    parse: (message: M) => T,
    watcher: Watcher<T>,
    signal: AbortSignal,
  ): Promise<void> {
    let attempt = 0;
    while (!signal.aborted) {
      const error = await new Promise<ServiceError | undefined>((resolve) => {
        const call = open();
        const cancel = () => call.cancel();
        signal.addEventListener("abort", cancel, { once: true });
        call.on("data", (message: M) => {
          attempt = 0;
          let value: T;
          try {
            value = parse(message);
          } catch (error) {
            watcher.onError?.(error as Error);
            return;
          }
          watcher.onUpdate(value);
        });
        call.on("error", (e: ServiceError) => {
          signal.removeEventListener("abort", cancel);
          resolve(e);
        });
        call.on("end", () => {
          signal.removeEventListener("abort", cancel);
          resolve(undefined);
        });
      });
      if (signal.aborted) return;
      if (error?.code === GrpcStatus.INVALID_ARGUMENT) {
        throw new Error(`Cannot watch the Workload API as it refused the request: ${error.details}`, { cause: error });
      }
      watcher.onError?.(error ?? new Error("Workload API stream ended"));
      attempt += 1;
      await sleep(Math.min(this.#stepMs * attempt, this.#maxMs), signal);
    }
  }
}

function securityHeader(): Metadata {
  const metadata = new Metadata();
  metadata.set(SECURITY_HEADER, "true");
  return metadata;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Validates a FetchX509SVID message: at least one SVID; each with an id,
 * chain, key and bundle; the chain's leaf must carry the announced id, the
 * key must match it, and it must verify against its own bundle.
 */
export function parseX509SvidResponse(message: X509SVIDResponse): X509SvidResponse {
  if (message.svids.length === 0) throw new X509SvidError("Workload API response has no SVIDs");
  const bundles = new Map<string, X509Bundle>();
  const svids: X509Svid[] = [];
  const hints = new Set<string>();
  for (const [i, entry] of message.svids.entries()) {
    for (
      const [field, value] of Object.entries({
        spiffe_id: entry.spiffeId,
        x509_svid: entry.x509Svid,
        x509_svid_key: entry.x509SvidKey,
        bundle: entry.bundle,
      })
    ) {
      if (value.length === 0) throw new X509SvidError(`Workload API response svids[${i}].${field} is empty`);
    }
    const id = SpiffeId.parse(entry.spiffeId);
    const svid = parseX509Svid(entry.x509Svid, entry.x509SvidKey, { hint: entry.hint });
    if (!svid.id.equals(id)) {
      throw new X509SvidError(`Workload API response svids[${i}] says ${id} but its certificate is ${svid.id}`);
    }
    const bundle = X509Bundle.fromDer(id.trustDomain, entry.bundle);
    if (!bundles.has(id.trustDomain.name)) bundles.set(id.trustDomain.name, bundle);
    verifyX509Svid(svid.certificates, new X509BundleSet([bundle]));
    // A repeated hint is ignored: the first SVID with a hint wins.
    if (entry.hint !== "" && hints.has(entry.hint)) continue;
    if (entry.hint !== "") hints.add(entry.hint);
    svids.push(svid);
  }
  for (const [key, der] of Object.entries(message.federatedBundles)) {
    const td = TrustDomain.parse(key);
    if (!bundles.has(td.name)) bundles.set(td.name, X509Bundle.fromDer(td, der));
  }
  return { svid: svids[0]!, svids, bundles: new X509BundleSet(bundles.values()) };
}

/** Validates a FetchX509Bundles message: at least one bundle, each keyed by a trust-domain id. */
export function parseX509BundlesResponse(message: X509BundlesResponse): X509BundleSet {
  const entries = Object.entries(message.bundles);
  if (entries.length === 0) throw new X509SvidError("Workload API response has no bundles");
  return new X509BundleSet(entries.map(([key, der]) => X509Bundle.fromDer(TrustDomain.parse(key), der)));
}
