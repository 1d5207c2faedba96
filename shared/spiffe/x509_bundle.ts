/**
 * X.509 bundles: the CA certificates of one trust domain, which are the
 * only roots an SVID from that trust domain may chain to.
 */

import { concatDer, derToPem, splitDer } from "./_der.ts";
import * as x509 from "./_x509.ts";
import type { TrustDomain } from "./spiffe_id.ts";

export class X509Bundle {
  constructor(readonly trustDomain: TrustDomain, readonly certificates: readonly x509.X509Certificate[]) {
    if (certificates.length === 0) {
      throw new RangeError(`Cannot make an X.509 bundle as it has no certificates: ${trustDomain.name}`);
    }
  }

  /** From the Workload API's concatenated DER. */
  static fromDer(trustDomain: TrustDomain, der: Uint8Array): X509Bundle {
    return new X509Bundle(trustDomain, splitDer(der).map((d) => x509.parseCertificate(d)));
  }

  /** PEM text of every certificate, as Node's TLS `ca` option takes it. */
  pem(): string {
    return this.certificates.map((c) => derToPem(new Uint8Array(c.rawData), "CERTIFICATE")).join("");
  }

  /** Concatenated DER, as the Workload API sends it. */
  der(): Uint8Array {
    return concatDer(this.certificates.map((c) => new Uint8Array(c.rawData)));
  }

  equals(other: X509Bundle): boolean {
    return this.trustDomain.equals(other.trustDomain) && this.pem() === other.pem();
  }
}

/** Anything that can hand out the bundle of a trust domain. */
export interface X509BundleSource {
  /** The bundle of `trustDomain`, or undefined when that trust domain is not trusted. */
  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined;
}

/** A fixed set of bundles keyed by trust domain. */
export class X509BundleSet implements X509BundleSource {
  readonly #bundles = new Map<string, X509Bundle>();

  constructor(bundles: Iterable<X509Bundle> = []) {
    for (const bundle of bundles) this.#bundles.set(bundle.trustDomain.name, bundle);
  }

  getX509Bundle(trustDomain: TrustDomain): X509Bundle | undefined {
    return this.#bundles.get(trustDomain.name);
  }

  get size(): number {
    return this.#bundles.size;
  }

  bundles(): X509Bundle[] {
    return [...this.#bundles.values()];
  }
}
