/**
 * The live X509Source: watches FetchX509SVID on the Workload API, blocks
 * until the first valid SVID arrives (bounded), then swaps SVID and bundles
 * atomically on every update. Closed by its owner.
 */

import type { Logger } from "../log.ts";
import type { TrustDomain } from "./spiffe_id.ts";
import type { X509Bundle } from "./x509_bundle.ts";
import { type X509Context, type X509Source, X509SourceState } from "./x509_source.ts";
import type { X509Svid } from "./x509_svid.ts";
import { WorkloadApiClient, type WorkloadApiClientOptions } from "./workload_api_client.ts";
import { workloadEndpointFromEnv } from "./workload_endpoint.ts";

export interface WorkloadX509SourceOptions extends WorkloadApiClientOptions {
  /** Workload API address; else `SPIFFE_ENDPOINT_SOCKET` from `env`. */
  address?: string;
  env?: Record<string, string | undefined>;
  logger: Logger;
  /** Bound on the wait for the first SVID. */
  firstUpdateTimeoutMs?: number;
}

export class WorkloadX509Source implements X509Source {
  private constructor(
    readonly client: WorkloadApiClient,
    private readonly state: X509SourceState,
    private readonly controller: AbortController,
    private readonly watching: Promise<void>,
  ) {}

  /** Connects and resolves once the first valid SVID has arrived. */
  static async open(options: WorkloadX509SourceOptions): Promise<WorkloadX509Source> {
    const endpoint = workloadEndpointFromEnv(options.env ?? {}, options.address);
    const client = new WorkloadApiClient(endpoint, options);
    const controller = new AbortController();
    const timeoutMs = options.firstUpdateTimeoutMs ?? 30_000;
    let state: X509SourceState | undefined;
    let resolveFirst!: () => void;
    const first = new Promise<void>((resolve) => (resolveFirst = resolve));
    let lastError: Error | undefined;
    const watching = client.watchX509Context({
      onUpdate(context) {
        if (state) {
          state.set(context);
          options.logger.info("x509 svid updated", {
            spiffe_id: context.svid.id.toString(),
            expires_at: context.svid.expiresAt.toISOString(),
          });
        } else {
          state = new X509SourceState(context);
          resolveFirst();
        }
      },
      onError(error) {
        lastError = error;
        options.logger.warn("workload api problem; retrying", { error: error.message });
      },
    }, controller.signal);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        first,
        watching.then(() => {
          throw new Error("Workload API watch stopped");
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no SVID within ${timeoutMs} ms`, { cause: lastError })),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      controller.abort();
      await watching.catch(() => {});
      client.close();
      throw new Error(
        `Cannot obtain an X.509-SVID from the Workload API at ${endpoint.grpcTarget} as ${(error as Error).message}`,
        { cause: error },
      );
    } finally {
      clearTimeout(timer);
    }
    const source = new WorkloadX509Source(
      client,
      state!,
      controller,
      watching.catch((error) => {
        options.logger.error("workload api watch stopped; the current SVID stays until it expires", { error });
      }),
    );
    return source;
  }

  getX509Svid(): X509Svid {
    return this.state.context.svid;
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.state.context.bundles.getX509Bundle(trustDomain);
  }

  onUpdate(listener: (context: X509Context) => void): () => void {
    return this.state.subscribe(listener);
  }

  async close(): Promise<void> {
    if (this.state.closed) return;
    this.state.close();
    this.controller.abort();
    await this.watching;
    this.client.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Opens the live source (go-spiffe's NewX509Source): blocks until the first SVID. */
export function openX509Source(options: WorkloadX509SourceOptions): Promise<WorkloadX509Source> {
  return WorkloadX509Source.open(options);
}
