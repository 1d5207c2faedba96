import assert from "node:assert/strict";
import * as x509 from "./_x509.ts";
import { SpiffeId, TrustDomain } from "./spiffe_id.ts";
import { X509BundleSet } from "./x509_bundle.ts";
import { type IssueSvidOptions, X509Issuer } from "./x509_issuer.ts";
import { parseX509Svid, verifyX509Svid, X509SvidError } from "./x509_svid.ts";

const td = TrustDomain.parse("securepay.dev");
const ID = "spiffe://securepay.dev/payment-service";
const ca = await X509Issuer.createRoot(td);
const intermediate = await ca.createIntermediate();
const bundles = new X509BundleSet([ca.bundle()]);

const ACCEPTED: readonly [string, () => Promise<{ chainDer: Uint8Array; keyDer: Uint8Array }>][] = [
  ["an SVID issued by the root", () => ca.issueSvid(ID)],
  ["an SVID issued by an intermediate that it carries", () => intermediate.issueSvid(ID)],
  ["an SVID with DNS SANs besides its URI SAN", () => ca.issueSvid(ID, { dnsNames: ["payment.internal"] })],
  ["an SVID with a subject and keyEncipherment", () =>
    ca.issueSvid(ID, {
      subject: "CN=payment",
      keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    })],
];

for (const [name, issue] of ACCEPTED) {
  Deno.test(`verifyX509Svid() and parseX509Svid() accept ${name}`, async () => {
    const issued = await issue();
    const svid = parseX509Svid(issued.chainDer, issued.keyDer);
    assert.equal(svid.id.toString(), ID);
    assert.equal(verifyX509Svid(svid.certificates, bundles).toString(), ID);
    assert.match(svid.certificatesPem(), /^-----BEGIN CERTIFICATE-----/);
    assert.match(svid.privateKeyPem(), /^-----BEGIN PRIVATE KEY-----/);
  });
}

const foreign = await X509Issuer.createRoot(td, { commonName: "securepay.dev root CA" });
const otherDomain = await X509Issuer.createRoot(TrustDomain.parse("evil.example"));
const hour = 3600_000;

const REJECTED: readonly [string, IssueSvidOptions & { issuer?: X509Issuer; id?: string }, RegExp][] = [
  ["no URI SAN", { uris: [], dnsNames: ["x.example"] }, /no URI SAN/],
  ["two URI SANs", { uris: [ID, "spiffe://securepay.dev/other"] }, /more than one URI SAN/],
  ["a URI SAN that is not a SPIFFE ID", { uris: ["https://securepay.dev/x"] }, /not a valid SPIFFE ID: scheme/],
  ["a SPIFFE ID without a path", { id: "spiffe://securepay.dev" }, /must have a path/],
  ["a CA flag", { ca: true }, /must not have CA flag/],
  ["no key usage extension", { keyUsage: null }, /must have the key usage extension/],
  ["no digitalSignature", { keyUsage: x509.KeyUsageFlags.keyEncipherment }, /'digitalSignature'/],
  [
    "keyCertSign",
    { keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign },
    /must not have 'keyCertSign'/,
  ],
  ["cRLSign", { keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.cRLSign }, /'cRLSign'/],
  ["an expired leaf", { notBefore: new Date(Date.now() - 2 * hour), notAfter: new Date(Date.now() - hour) }, /expired/],
  [
    "a leaf not yet valid",
    { notBefore: new Date(Date.now() + hour), notAfter: new Date(Date.now() + 2 * hour) },
    /not yet valid/,
  ],
  ["a foreign CA with the same name", { issuer: foreign }, /signed by unknown authority/],
  [
    "another trust domain without a bundle",
    { issuer: otherDomain, id: "spiffe://evil.example/payment-service" },
    /no bundle for trust domain "evil.example"/,
  ],
  ["another trust domain's CA claiming our trust domain", { issuer: otherDomain }, /signed by unknown authority/],
];

for (const [name, options, reason] of REJECTED) {
  Deno.test(`verifyX509Svid() rejects a certificate with ${name}`, async () => {
    const issued = await (options.issuer ?? ca).issueSvid(options.id ?? ID, options);
    assert.throws(
      () => verifyX509Svid(issued.certificates, bundles),
      (e: unknown) => e instanceof X509SvidError && reason.test(e.message),
    );
  });
}

Deno.test("verifyX509Svid() rejects an intermediate-issued leaf sent without its intermediate", async () => {
  const issued = await intermediate.issueSvid(ID);
  assert.throws(() => verifyX509Svid([issued.certificates[0]!], bundles), /signed by unknown authority/);
});

Deno.test("verifyX509Svid() rejects an empty chain and an expired root", async () => {
  assert.throws(() => verifyX509Svid([], bundles), /no certificate presented/);
  const old = await X509Issuer.createRoot(td, { notBefore: new Date(Date.now() - 3 * hour), ttlSeconds: 3600 });
  const issued = await old.issueSvid(ID);
  assert.throws(
    () => verifyX509Svid(issued.certificates, new X509BundleSet([old.bundle()])),
    /root certificate has expired/,
    "the root must be valid too",
  );
});

Deno.test("parseX509Svid() rejects a key that does not belong to the leaf, and garbage", async () => {
  const a = await ca.issueSvid(ID);
  const b = await ca.issueSvid(ID);
  assert.throws(() => parseX509Svid(a.chainDer, b.keyDer), /private key does not match/);
  assert.throws(() => parseX509Svid(new Uint8Array([1, 2, 3]), a.keyDer), /cannot parse the certificate chain/);
  assert.throws(() => parseX509Svid(new Uint8Array(), a.keyDer), /chain is empty/);
  assert.throws(() => parseX509Svid(a.chainDer, new Uint8Array([0x30, 0])), /cannot parse the private key/);
  const bad = await ca.issueSvid(ID, { ca: true });
  assert.throws(() => parseX509Svid(bad.chainDer, bad.keyDer), /CA flag/);
});

Deno.test("X509Issuer.fromPem() reloads a root that still issues verifiable SVIDs", async () => {
  const reloaded = await X509Issuer.fromPem(td, await ca.toPem());
  const issued = await reloaded.issueSvid(ID);
  assert.ok(verifyX509Svid(issued.certificates, bundles).equals(SpiffeId.parse(ID)));
});
