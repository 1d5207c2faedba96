/**
 * X.509-SVIDs: parsing what the Workload API hands us, and verifying what a
 * peer presents, per the X509-SVID standard. A leaf has exactly one URI SAN
 * holding a SPIFFE ID with a path, `cA=false`, a key usage extension with
 * `digitalSignature` and without `keyCertSign`/`cRLSign`; its chain must
 * lead to the bundle of the peer's own trust domain, and every certificate
 * on the way must be within its validity period. Host names and CNs play no
 * part.
 */

import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate as NodeCertificate } from "node:crypto";
import { Buffer } from "node:buffer";
import { derToPem, splitDer } from "./_der.ts";
import * as x509 from "./_x509.ts";
import { SpiffeId, SpiffeIdError } from "./spiffe_id.ts";
import type { X509BundleSource } from "./x509_bundle.ts";

/** Why a certificate is not an acceptable X.509-SVID. */
export class X509SvidError extends Error {
  override readonly name = "X509SvidError";
}

/** Longest chain a verifier walks (leaf, intermediates, root). */
export const MAX_CHAIN_DEPTH = 8;

const URI_SAN = "url";
const SAN_OID = "2.5.29.17";

/** An SVID this workload holds: its id, its chain (leaf first) and its private key. */
export class X509Svid {
  readonly #keyPem: string;

  constructor(
    readonly id: SpiffeId,
    readonly certificates: readonly x509.X509Certificate[],
    readonly privateKey: KeyObject,
    readonly hint = "",
  ) {
    this.#keyPem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
  }

  get leaf(): x509.X509Certificate {
    return this.certificates[0]!;
  }

  /** When the first certificate of the chain stops being valid. */
  get expiresAt(): Date {
    return new Date(Math.min(...this.certificates.map((c) => c.notAfter.getTime())));
  }

  /** The chain as PEM, leaf first, as Node's TLS `cert` option takes it. */
  certificatesPem(): string {
    return this.certificates.map((c) => derToPem(new Uint8Array(c.rawData), "CERTIFICATE")).join("");
  }

  privateKeyPem(): string {
    return this.#keyPem;
  }
}

/**
 * Parses an SVID from the Workload API's encoding (concatenated DER chain,
 * PKCS#8 DER key), checking the leaf rules and that the key belongs to the
 * leaf. It does not check the chain against a bundle: see verifyX509Svid.
 */
export function parseX509Svid(chainDer: Uint8Array, keyDer: Uint8Array, options: { hint?: string } = {}): X509Svid {
  let certificates: x509.X509Certificate[];
  try {
    certificates = splitDer(chainDer).map((d) => x509.parseCertificate(d));
  } catch (error) {
    throw new X509SvidError("cannot parse the certificate chain", { cause: error });
  }
  if (certificates.length === 0) throw new X509SvidError("certificate chain is empty");
  const id = validateLeaf(certificates[0]!);
  for (const intermediate of certificates.slice(1)) validateSigningCertificate(intermediate);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(keyDer), format: "der", type: "pkcs8" });
  } catch (error) {
    throw new X509SvidError("cannot parse the private key as PKCS#8 DER", { cause: error });
  }
  const fromKey = createPublicKey(privateKey).export({ format: "der", type: "spki" });
  const fromCert = node(certificates[0]!).publicKey.export({ format: "der", type: "spki" });
  if (!Buffer.from(fromKey).equals(Buffer.from(fromCert))) {
    throw new X509SvidError("private key does not match the leaf certificate's public key");
  }
  return new X509Svid(id, certificates, privateKey, options.hint);
}

/**
 * Checks the rules a leaf X.509-SVID must satisfy and returns its SPIFFE ID.
 * Throws X509SvidError naming the first broken rule.
 */
export function validateLeaf(leaf: x509.X509Certificate): SpiffeId {
  const sans = leaf.getExtensions(x509.SubjectAlternativeNameExtension);
  const uris = sans.flatMap((san) => san.names.items.filter((n) => n.type === URI_SAN).map((n) => n.value));
  if (uris.length === 0) throw new X509SvidError("certificate contains no URI SAN");
  if (uris.length > 1) throw new X509SvidError("certificate contains more than one URI SAN");
  let id: SpiffeId;
  try {
    id = SpiffeId.parse(uris[0]!);
  } catch (error) {
    const reason = error instanceof SpiffeIdError ? error.message : String(error);
    throw new X509SvidError(`certificate URI SAN is not a valid SPIFFE ID: ${reason}`, { cause: error });
  }
  if (id.isRoot) throw new X509SvidError("leaf certificate SPIFFE ID must have a path");
  if (leaf.subject === "" && !leaf.extensions.find((e) => e.type === SAN_OID)?.critical) {
    throw new X509SvidError("leaf certificate with an empty subject must mark its SAN critical");
  }
  const constraints = leaf.getExtension(x509.BasicConstraintsExtension);
  if (constraints?.ca) throw new X509SvidError("leaf certificate must not have CA flag set to true");
  const keyUsage = leaf.getExtension(x509.KeyUsagesExtension);
  if (!keyUsage) throw new X509SvidError("leaf certificate must have the key usage extension");
  if (!(keyUsage.usages & x509.KeyUsageFlags.digitalSignature)) {
    throw new X509SvidError("leaf certificate must have 'digitalSignature' set as key usage");
  }
  if (keyUsage.usages & x509.KeyUsageFlags.keyCertSign) {
    throw new X509SvidError("leaf certificate must not have 'keyCertSign' set as key usage");
  }
  if (keyUsage.usages & x509.KeyUsageFlags.cRLSign) {
    throw new X509SvidError("leaf certificate must not have 'cRLSign' set as key usage");
  }
  return id;
}

function validateSigningCertificate(cert: x509.X509Certificate): void {
  if (!cert.getExtension(x509.BasicConstraintsExtension)?.ca) {
    throw new X509SvidError("signing certificate must have CA flag set to true");
  }
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension);
  if (keyUsage && !(keyUsage.usages & x509.KeyUsageFlags.keyCertSign)) {
    throw new X509SvidError("signing certificate must have 'keyCertSign' set as key usage");
  }
}

export interface VerifyOptions {
  /** The instant to check validity at; now unless given (tests inject a clock). */
  now?: Date;
}

/**
 * Verifies a peer's certificate chain (leaf first, then any intermediates it
 * sent) as an X.509-SVID: leaf rules, then a path to the bundle of the trust
 * domain named in the leaf's own SPIFFE ID, with every certificate valid at
 * `now`. Returns the peer's SPIFFE ID; throws X509SvidError otherwise.
 */
export function verifyX509Svid(
  chain: readonly (x509.X509Certificate | Uint8Array)[],
  bundles: X509BundleSource,
  options: VerifyOptions = {},
): SpiffeId {
  if (chain.length === 0) throw new X509SvidError("no certificate presented");
  if (chain.length > MAX_CHAIN_DEPTH) throw new X509SvidError(`chain is longer than ${MAX_CHAIN_DEPTH} certificates`);
  let certs: x509.X509Certificate[];
  try {
    certs = chain.map((c) => c instanceof x509.X509Certificate ? c : x509.parseCertificate(c));
  } catch (error) {
    throw new X509SvidError("cannot parse the certificate chain", { cause: error });
  }
  const leaf = certs[0]!;
  const id = validateLeaf(leaf);
  const bundle = bundles.getX509Bundle(id.trustDomain);
  if (!bundle) throw new X509SvidError(`no bundle for trust domain "${id.trustDomain.name}"`);
  const now = options.now ?? new Date();
  const intermediates = certs.slice(1);
  let current = leaf;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    checkValidity(current, now, depth === 0 ? "leaf" : "intermediate");
    const root = bundle.certificates.find((r) => r.subject === current.issuer && signedBy(current, r));
    if (root) {
      checkValidity(root, now, "root");
      validateSigningCertificate(root);
      return id;
    }
    const parent = intermediates.find((c) => c !== current && c.subject === current.issuer && signedBy(current, c));
    if (!parent) {
      throw new X509SvidError(`certificate signed by unknown authority for trust domain "${id.trustDomain.name}"`);
    }
    validateSigningCertificate(parent);
    current = parent;
  }
  throw new X509SvidError(`no path to the bundle within ${MAX_CHAIN_DEPTH} certificates`);
}

function checkValidity(cert: x509.X509Certificate, now: Date, role: string): void {
  if (now < cert.notBefore) throw new X509SvidError(`${role} certificate is not yet valid`);
  if (now > cert.notAfter) throw new X509SvidError(`${role} certificate has expired`);
}

// Node's certificate objects do the signature checks synchronously, which
// TLS callbacks need; one per parsed certificate is kept.
const nodeCertificates = new WeakMap<x509.X509Certificate, NodeCertificate>();
function node(cert: x509.X509Certificate): NodeCertificate {
  let n = nodeCertificates.get(cert);
  if (!n) {
    n = new NodeCertificate(Buffer.from(cert.rawData));
    nodeCertificates.set(cert, n);
  }
  return n;
}

function signedBy(child: x509.X509Certificate, parent: x509.X509Certificate): boolean {
  try {
    return node(child).verify(node(parent).publicKey);
  } catch {
    return false;
  }
}
