/** DER and PEM plumbing for the Workload API's concatenated certificates and Node's TLS. */

import { Buffer } from "node:buffer";

/** Upper bound on certificates in one chain or bundle, so a hostile message cannot exhaust memory. */
export const MAX_CERTIFICATES = 64;

/** Splits concatenated DER SEQUENCEs (the Workload API's encoding of chains and bundles). */
export function splitDer(bytes: Uint8Array): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (parts.length === MAX_CERTIFICATES) {
      throw new RangeError(`Cannot split DER as there are more than ${MAX_CERTIFICATES} certificates`);
    }
    if (bytes[offset] !== 0x30) throw new RangeError(`Cannot split DER as byte ${offset} does not start a SEQUENCE`);
    const first = bytes[offset + 1];
    if (first === undefined) throw new RangeError("Cannot split DER as it is truncated: no length");
    let length: number;
    let header: number;
    if (first < 0x80) {
      length = first;
      header = 2;
    } else {
      const count = first & 0x7f;
      if (count === 0 || count > 4) throw new RangeError(`Cannot split DER as a length has ${count} bytes`);
      length = 0;
      for (let i = 0; i < count; i++) {
        const b = bytes[offset + 2 + i];
        if (b === undefined) throw new RangeError("Cannot split DER as it is truncated: in a length");
        length = length * 256 + b;
      }
      header = 2 + count;
    }
    const end = offset + header + length;
    if (end > bytes.length) throw new RangeError(`Cannot split DER as it is truncated: needs ${end} bytes`);
    parts.push(bytes.subarray(offset, end));
    offset = end;
  }
  return parts;
}

/** PEM text of one DER object. */
export function derToPem(der: Uint8Array, label: "CERTIFICATE" | "PRIVATE KEY"): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join("\n")}\n-----END ${label}-----\n`;
}

/** The DER bodies of every PEM block with `label` in `pem`. */
export function pemToDer(pem: string, label = "CERTIFICATE"): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  const pattern = new RegExp(`-----BEGIN ${label}-----([^-]+)-----END ${label}-----`, "g");
  for (const match of pem.matchAll(pattern)) {
    blocks.push(new Uint8Array(Buffer.from(match[1]!.replace(/\s+/g, ""), "base64")));
  }
  return blocks;
}

/** Concatenation of DER objects (the Workload API's encoding). */
export function concatDer(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
