/**
 * X509Source: where TLS code gets this workload's current SVID and the
 * bundles to verify peers with. Both the live Workload API source and the
 * static source for tests satisfy it, so TLS code never knows which it has.
 * The SVID and the bundles are swapped together, in one assignment, so a
 * reader never sees a new SVID with old bundles.
 */

import type { TrustDomain } from "./spiffe_id.ts";
import type { X509Bundle, X509BundleSet, X509BundleSource } from "./x509_bundle.ts";
import type { X509Svid } from "./x509_svid.ts";

/** Everything a workload holds at one instant. */
export interface X509Context {
  readonly svid: X509Svid;
  readonly bundles: X509BundleSet;
}

export interface X509Source extends X509BundleSource, AsyncDisposable {
  /** The current default SVID. Throws when the source is closed. */
  getX509Svid(): X509Svid;
  /** The current bundle of `trustDomain`, or undefined when it is not trusted. */
  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined;
  /** Calls `listener` after every swap; returns the unsubscribe function. */
  onUpdate(listener: (context: X509Context) => void): () => void;
  /** Stops updates; the owner closes the source. */
  close(): Promise<void>;
}

/** The swap-and-notify core shared by every source. */
export class X509SourceState {
  #context: X509Context;
  #closed = false;
  readonly #listeners = new Set<(context: X509Context) => void>();

  constructor(initial: X509Context) {
    this.#context = initial;
  }

  get context(): X509Context {
    if (this.#closed) throw new Error("Cannot read the X.509 source as it is closed");
    return this.#context;
  }

  get closed(): boolean {
    return this.#closed;
  }

  set(context: X509Context): void {
    if (this.#closed) return;
    this.#context = context;
    for (const listener of [...this.#listeners]) listener(context);
  }

  subscribe(listener: (context: X509Context) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    this.#closed = true;
    this.#listeners.clear();
  }
}

/** A source whose contents the test decides; `set()` simulates a rotation. */
export class StaticX509Source implements X509Source {
  readonly #state: X509SourceState;

  constructor(context: X509Context) {
    this.#state = new X509SourceState(context);
  }

  set(context: X509Context): void {
    this.#state.set(context);
  }

  getX509Svid(): X509Svid {
    return this.#state.context.svid;
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.#state.context.bundles.getX509Bundle(trustDomain);
  }

  onUpdate(listener: (context: X509Context) => void): () => void {
    return this.#state.subscribe(listener);
  }

  close(): Promise<void> {
    this.#state.close();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
