/**
 * A small X.509 certificate authority that mints SVIDs: the engine of
 * devstack's local Workload API server and of the tests, which also use its
 * overrides to mint deliberately broken certificates. Production SVIDs come
 * from SPIRE, never from here.
 */

import { Buffer } from "node:buffer";
import { concatDer, derToPem, pemToDer } from "./_der.ts";
import * as x509 from "./_x509.ts";
import type { SpiffeId, TrustDomain } from "./spiffe_id.ts";
import { X509Bundle } from "./x509_bundle.ts";

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

/** A freshly issued certificate with its chain and key, in both encodings. */
export interface IssuedCertificate {
  /** Leaf first, then the issuer's intermediates (never the root). */
  readonly certificates: readonly x509.X509Certificate[];
  /** Concatenated DER chain, as the Workload API's `x509_svid`. */
  readonly chainDer: Uint8Array;
  /** PKCS#8 DER key, as the Workload API's `x509_svid_key`. */
  readonly keyDer: Uint8Array;
  readonly chainPem: string;
  readonly keyPem: string;
}

/** What an SVID looks like; the overrides exist to mint invalid ones in tests. */
export interface IssueSvidOptions {
  /** Lifetime from now; default one hour (SPIRE's default). */
  ttlSeconds?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** DNS SANs besides the URI SAN (SPIRE's dnsNames). */
  dnsNames?: readonly string[];
  /** Replaces the URI SANs (default: the one SPIFFE ID). */
  uris?: readonly string[];
  /** Marks the certificate as a CA (invalid for a leaf). */
  ca?: boolean;
  /** Key usage flags; null leaves the extension out. Default digitalSignature. */
  keyUsage?: number | null;
  subject?: string;
}

export class X509Issuer {
  private constructor(
    readonly trustDomain: TrustDomain,
    readonly certificate: x509.X509Certificate,
    private readonly keys: CryptoKeyPair,
    /** Certificates between this issuer and the root, this issuer's own first; empty for a root. */
    private readonly chain: readonly x509.X509Certificate[],
  ) {}

  /** A self-signed root CA for `trustDomain`. */
  static async createRoot(
    trustDomain: TrustDomain,
    options: { ttlSeconds?: number; commonName?: string; notBefore?: Date } = {},
  ): Promise<X509Issuer> {
    const keys = await generateKeys();
    const notBefore = options.notBefore ?? new Date(Date.now() - 60_000);
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serialNumber(),
      name: `CN=${options.commonName ?? `${trustDomain.name} root CA`}, O=SecurePay devstack`,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (options.ttlSeconds ?? 10 * 365 * 24 * 3600) * 1000),
      signingAlgorithm: ALGORITHM,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        new x509.SubjectAlternativeNameExtension([{ type: "url", value: trustDomain.idString() }]),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new X509Issuer(trustDomain, certificate, keys, []);
  }

  /** Loads a root saved with `toPem()`. */
  static async fromPem(
    trustDomain: TrustDomain,
    pem: { certificate: string; privateKey: string },
  ): Promise<X509Issuer> {
    const [der] = pemToDer(pem.certificate);
    const [keyDer] = pemToDer(pem.privateKey, "PRIVATE KEY");
    if (!der || !keyDer) throw new TypeError("Cannot load a CA as the PEM has no certificate or no private key");
    const certificate = x509.parseCertificate(der);
    const privateKey = await crypto.subtle.importKey("pkcs8", new Uint8Array(keyDer), ALGORITHM, true, ["sign"]);
    const publicKey = await certificate.publicKey.export(ALGORITHM, ["verify"]);
    return new X509Issuer(trustDomain, certificate, { privateKey, publicKey }, []);
  }

  async toPem(): Promise<{ certificate: string; privateKey: string }> {
    const keyDer = new Uint8Array(await crypto.subtle.exportKey("pkcs8", this.keys.privateKey));
    return {
      certificate: derToPem(new Uint8Array(this.certificate.rawData), "CERTIFICATE"),
      privateKey: derToPem(keyDer, "PRIVATE KEY"),
    };
  }

  /** The trust bundle a relying party needs: this issuer's root. */
  bundle(): X509Bundle {
    return new X509Bundle(this.trustDomain, [this.chain.at(-1) ?? this.certificate]);
  }

  /** An intermediate CA signed by this issuer. */
  async createIntermediate(options: { ttlSeconds?: number } = {}): Promise<X509Issuer> {
    const keys = await generateKeys();
    const notBefore = new Date(Date.now() - 60_000);
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject: `CN=${this.trustDomain.name} intermediate CA, O=SecurePay devstack`,
      issuer: this.certificate.subject,
      notBefore,
      notAfter: new Date(notBefore.getTime() + (options.ttlSeconds ?? 24 * 3600) * 1000),
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
      ],
    });
    // The root stays last so bundle() finds it.
    const root = this.chain.at(-1) ?? this.certificate;
    return new X509Issuer(this.trustDomain, certificate, keys, [certificate, ...this.chain.slice(0, -1), root]);
  }

  /** Mints an X.509-SVID for `id` (valid unless overrides say otherwise). */
  async issueSvid(id: SpiffeId | string, options: IssueSvidOptions = {}): Promise<IssuedCertificate> {
    const spiffeId = typeof id === "string" ? id : id.toString();
    const keys = await generateKeys();
    const notBefore = options.notBefore ?? new Date(Date.now() - 30_000);
    const notAfter = options.notAfter ??
      new Date(Date.now() + (options.ttlSeconds ?? 3600) * 1000);
    const names: x509.JsonGeneralName[] = [
      ...(options.uris ?? [spiffeId]).map((value) => ({ type: "url" as const, value })),
      ...(options.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ];
    const subject = options.subject ?? "";
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
    ];
    if (names.length > 0) {
      // An empty subject requires a critical SAN (X509-SVID §2; RFC 5280 §4.2.1.6).
      extensions.push(new x509.SubjectAlternativeNameExtension(names, subject === ""));
    }
    const keyUsage = options.keyUsage === undefined ? x509.KeyUsageFlags.digitalSignature : options.keyUsage;
    if (keyUsage !== null) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serialNumber(),
      subject,
      issuer: this.certificate.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions,
    });
    const certificates = [leaf, ...this.chain.slice(0, -1)];
    const keyDer = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
    return {
      certificates,
      chainDer: concatDer(certificates.map((c) => new Uint8Array(c.rawData))),
      keyDer,
      chainPem: certificates.map((c) => derToPem(new Uint8Array(c.rawData), "CERTIFICATE")).join(""),
      keyPem: derToPem(keyDer, "PRIVATE KEY"),
    };
  }
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]) as CryptoKeyPair;
}

function serialNumber(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
}
