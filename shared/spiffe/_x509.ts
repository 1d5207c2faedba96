/**
 * @peculiar/x509, loaded after the metadata functions it needs. Every
 * module of shared/spiffe imports x509 from here, never directly.
 */

// tsyringe, under @peculiar/x509, needs the Reflect metadata API at load time.
import "reflect-metadata";
export * from "@peculiar/x509";

import { X509Certificate } from "@peculiar/x509";

/** Parses one DER certificate (copied, so a view into a larger message is fine). */
export function parseCertificate(der: Uint8Array): X509Certificate {
  return new X509Certificate(new Uint8Array(der));
}
