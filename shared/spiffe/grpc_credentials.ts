/**
 * grpc-js credentials from an X509Source, modelled on go-spiffe's
 * grpccredentials: servers require a client certificate and authorize the
 * caller's SPIFFE ID in an interceptor; clients verify the server's SVID
 * and expect its SPIFFE ID. Certificates reach grpc-js through certificate
 * providers, so a rotated SVID or bundle is used by the next handshake
 * without a restart, and open connections keep working.
 *
 * Dial host names (`localhost:50051`), never IP literals: TLS to an IP
 * literal fails on Deno (DESIGN §2). Host names are not checked: the
 * server's identity is its SPIFFE ID.
 */

import {
  type ChannelCredentials,
  experimental,
  Metadata,
  type ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  status as GrpcStatus,
} from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import type { PeerCertificate } from "node:tls";
import type { Logger } from "../log.ts";
import { AuthorizationError, type Authorizer } from "./authorizer.ts";
import type { SpiffeId, TrustDomain } from "./spiffe_id.ts";
import type { X509BundleSource } from "./x509_bundle.ts";
import type { X509Context, X509Source } from "./x509_source.ts";
import { verifyX509Svid, type X509Svid, X509SvidError } from "./x509_svid.ts";

type CertificateProvider = experimental.CertificateProvider;
type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface ProviderOptions {
  /** Trust domains whose bundles TLS accepts; default the SVID's own. */
  trustDomains?: readonly TrustDomain[];
}

/**
 * A grpc-js CertificateProvider fed by an X509Source: the SVID chain and key
 * as the identity, the bundles of the trusted trust domains as the CA.
 */
export class X509CertificateProvider implements CertificateProvider {
  readonly #caListeners = new Set<CaListener>();
  readonly #identityListeners = new Set<IdentityListener>();
  readonly #unsubscribe: () => void;

  constructor(private readonly source: X509Source, private readonly options: ProviderOptions = {}) {
    this.#unsubscribe = source.onUpdate((context) => this.#publish(context));
  }

  #caUpdate(svid: X509Svid, bundles: X509BundleSource): experimental.CaCertificateUpdate | null {
    const domains = this.options.trustDomains ?? [svid.id.trustDomain];
    const pem = domains.map((td) => bundles.getX509Bundle(td)?.pem() ?? "").join("");
    return pem === "" ? null : { caCertificate: Buffer.from(pem) };
  }

  #identityUpdate(svid: X509Svid): experimental.IdentityCertificateUpdate {
    return { certificate: Buffer.from(svid.certificatesPem()), privateKey: Buffer.from(svid.privateKeyPem()) };
  }

  #publish(context: X509Context): void {
    const ca = this.#caUpdate(context.svid, context.bundles);
    const identity = this.#identityUpdate(context.svid);
    for (const listener of this.#caListeners) listener(ca);
    for (const listener of this.#identityListeners) listener(identity);
  }

  // grpc-js subscribes before it registers its own watcher, so a first update
  // delivered synchronously would be lost: it always arrives in a microtask.
  addCaCertificateListener(listener: CaListener): void {
    this.#caListeners.add(listener);
    queueMicrotask(() => {
      if (this.#caListeners.has(listener)) listener(this.#caUpdate(this.source.getX509Svid(), this.source));
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.add(listener);
    queueMicrotask(() => {
      if (this.#identityListeners.has(listener)) listener(this.#identityUpdate(this.source.getX509Svid()));
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identityListeners.delete(listener);
  }

  close(): void {
    this.#unsubscribe();
    this.#caListeners.clear();
    this.#identityListeners.clear();
  }
}

export interface ServerCredentialsOptions extends ProviderOptions {
  /** Who may call this server (DESIGN §3). */
  authorize: Authorizer;
  /** Denied calls are logged here with their reason. */
  logger: Logger;
}

/**
 * Server credentials that demand a client SVID, re-verify it against the
 * bundle of the caller's trust domain and authorize its SPIFFE ID on every
 * call: no or unverifiable certificate → UNAUTHENTICATED, an id the policy
 * refuses → PERMISSION_DENIED.
 */
export function mtlsServerCredentials(source: X509Source, options: ServerCredentialsOptions): ServerCredentials {
  const provider = new X509CertificateProvider(source, options);
  // grpc-js passes this function's first two arguments to its constructor in
  // swapped order; giving the same provider for both sidesteps that.
  const tls = experimental.createCertificateProviderServerCredentials(provider, provider, true);
  return experimental.createServerCredentialsWithInterceptors(tls, [
    spiffeAuthorizationInterceptor(source, options.authorize, options.logger),
  ]);
}

/**
 * Peer ids by certificate. Each certificate is verified once, when first
 * seen: a connection legitimately outlives its certificate's rotation and
 * expiry (TLS, like go-spiffe, checks validity at the handshake), so later
 * calls on it must not fail because the peer has since moved to a new SVID.
 * New connections are still verified by the TLS handshake itself.
 */
class PeerCache {
  readonly #ids = new Map<string, SpiffeId>();
  static readonly MAX_ENTRIES = 4096;

  verify(cert: PeerCertificate, source: X509Source): SpiffeId {
    const key = cert.raw.toString("base64");
    const hit = this.#ids.get(key);
    if (hit) return hit;
    const id = verifyX509Svid([new Uint8Array(cert.raw)], source);
    if (this.#ids.size >= PeerCache.MAX_ENTRIES) this.#ids.delete(this.#ids.keys().next().value!);
    this.#ids.set(key, id);
    return id;
  }
}

/**
 * The interceptor behind mtlsServerCredentials: reads the peer certificate
 * from `call.getAuthContext()`, never trusting the TLS layer alone.
 */
export function spiffeAuthorizationInterceptor(
  source: X509Source,
  authorize: Authorizer,
  logger: Logger,
): ServerInterceptor {
  const cache = new PeerCache();
  return (method, call: ServerInterceptingCallInterface) =>
    new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, mdNext) {
            const deny = (code: GrpcStatus, reason: string, peer?: string) => {
              logger.warn("grpc call denied", { rpc: method.path, reason, peer_id: peer, peer: call.getPeer() });
              call.sendStatus({
                code,
                details: code === GrpcStatus.PERMISSION_DENIED
                  ? "caller is not authorized"
                  : "caller is not authenticated",
                metadata: new Metadata(),
              });
            };
            const cert = call.getAuthContext().sslPeerCertificate as PeerCertificate | undefined;
            if (!cert?.raw || cert.raw.length === 0) return deny(GrpcStatus.UNAUTHENTICATED, "no client certificate");
            let id: SpiffeId;
            try {
              id = cache.verify(cert, source);
            } catch (error) {
              const reason = error instanceof X509SvidError ? error.message : "cannot verify the client certificate";
              return deny(GrpcStatus.UNAUTHENTICATED, reason);
            }
            try {
              authorize(id);
            } catch (error) {
              if (!(error instanceof AuthorizationError)) throw error;
              return deny(GrpcStatus.PERMISSION_DENIED, error.message, id.toString());
            }
            mdNext(metadata);
          },
        });
      },
    });
}

export interface ClientCredentialsOptions extends ProviderOptions {
  /** What the server must be, usually `authorizeId(<its SPIFFE ID>)`. */
  authorize: Authorizer;
}

/**
 * Channel credentials presenting this workload's SVID and accepting only a
 * server whose SVID verifies against its trust domain's bundle and whose
 * SPIFFE ID the policy allows.
 */
export function mtlsClientCredentials(source: X509Source, options: ClientCredentialsOptions): ChannelCredentials {
  const provider = new X509CertificateProvider(source, options);
  return experimental.createCertificateProviderChannelCredentials(provider, provider, {
    // Node calls this after OpenSSL verified the chain against `ca`; the
    // host name is ignored on purpose, the SPIFFE ID is the identity.
    checkServerIdentity(_host: string, cert: PeerCertificate) {
      try {
        if (!cert?.raw) throw new X509SvidError("no server certificate");
        options.authorize(verifyX509Svid([new Uint8Array(cert.raw)], source));
        return undefined;
      } catch (error) {
        return new Error(`Cannot trust the server as its SVID was rejected: ${(error as Error).message}`);
      }
    },
  });
}
