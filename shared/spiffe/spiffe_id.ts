/**
 * SPIFFE IDs and trust domains, parsed and validated per the SPIFFE-ID
 * standard: scheme `spiffe`, a lowercase trust domain of `[a-z0-9._-]`
 * (no userinfo, port or percent-encoding, at most 255 bytes), and an
 * optional path of non-empty segments of `[a-zA-Z0-9._-]` without `.`/`..`
 * and without a trailing slash; at most 2048 bytes in all; no query or
 * fragment. Parsed values are normalized, so `equals()` and string
 * comparison agree.
 */

/** The reason an id or trust domain was rejected, in the standard's terms. */
export class SpiffeIdError extends Error {
  override readonly name = "SpiffeIdError";
}

const SCHEME_PREFIX = "spiffe://";
/** The standard's limits: implementations must support these lengths. */
export const MAX_SPIFFE_ID_BYTES = 2048;
export const MAX_TRUST_DOMAIN_BYTES = 255;

const TRUST_DOMAIN_CHARS = /^[a-z0-9._-]+$/;
const PATH_SEGMENT_CHARS = /^[a-zA-Z0-9._-]+$/;

/** A trust domain name such as `securepay.dev`. */
export class TrustDomain {
  private constructor(readonly name: string) {}

  /** Parses a bare name (`example.org`) or a trust-domain id (`spiffe://example.org`). */
  static parse(value: string): TrustDomain {
    if (value.startsWith(SCHEME_PREFIX)) return SpiffeId.parse(value).trustDomain;
    checkTrustDomain(value);
    return new TrustDomain(value);
  }

  /** `spiffe://<name>`, the key bundles are filed under in the Workload API. */
  idString(): string {
    return `${SCHEME_PREFIX}${this.name}`;
  }

  /** The id of a workload in this trust domain, e.g. `id("/payment-service")`. */
  id(path: string): SpiffeId {
    return SpiffeId.parse(`${SCHEME_PREFIX}${this.name}${path}`);
  }

  equals(other: TrustDomain): boolean {
    return this.name === other.name;
  }

  toString(): string {
    return this.name;
  }
}

/** A parsed SPIFFE ID: `spiffe://<trust domain><path>`. */
export class SpiffeId {
  private constructor(readonly trustDomain: TrustDomain, readonly path: string) {}

  /** Parses and validates a SPIFFE ID; throws SpiffeIdError with the broken rule. */
  static parse(value: string): SpiffeId {
    if (typeof value !== "string" || value === "") throw new SpiffeIdError("cannot be empty");
    if (new TextEncoder().encode(value).length > MAX_SPIFFE_ID_BYTES) {
      throw new SpiffeIdError(`is longer than ${MAX_SPIFFE_ID_BYTES} bytes`);
    }
    // The scheme is compared exactly: the standard asks for lowercase, normalized ids.
    if (!value.startsWith(SCHEME_PREFIX)) throw new SpiffeIdError("scheme is missing or invalid");
    const rest = value.slice(SCHEME_PREFIX.length);
    const slash = rest.indexOf("/");
    const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
    const path = slash === -1 ? "" : rest.slice(slash);
    const domain = TrustDomain.parse(trustDomain);
    checkPath(path);
    return new SpiffeId(domain, path);
  }

  /** True when `value` is a valid SPIFFE ID. */
  static isValid(value: string): boolean {
    try {
      SpiffeId.parse(value);
      return true;
    } catch {
      return false;
    }
  }

  /** True for `spiffe://td` with no path (a trust domain's id, never a workload's). */
  get isRoot(): boolean {
    return this.path === "";
  }

  equals(other: SpiffeId): boolean {
    return this.toString() === other.toString();
  }

  memberOf(trustDomain: TrustDomain): boolean {
    return this.trustDomain.equals(trustDomain);
  }

  toString(): string {
    return `${SCHEME_PREFIX}${this.trustDomain.name}${this.path}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

function checkTrustDomain(name: string): void {
  if (name === "") throw new SpiffeIdError("trust domain is missing");
  if (new TextEncoder().encode(name).length > MAX_TRUST_DOMAIN_BYTES) {
    throw new SpiffeIdError(`trust domain is longer than ${MAX_TRUST_DOMAIN_BYTES} bytes`);
  }
  if (!TRUST_DOMAIN_CHARS.test(name)) {
    throw new SpiffeIdError(
      "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores",
    );
  }
}

function checkPath(path: string): void {
  if (path === "") return;
  if (!path.startsWith("/")) throw new SpiffeIdError("path must have a leading slash");
  const segments = path.slice(1).split("/");
  for (const [i, segment] of segments.entries()) {
    if (segment === "") {
      throw new SpiffeIdError(
        i === segments.length - 1 ? "path cannot have a trailing slash" : "path cannot contain empty segments",
      );
    }
    if (segment === "." || segment === "..") throw new SpiffeIdError("path cannot contain dot segments");
    if (!PATH_SEGMENT_CHARS.test(segment)) {
      throw new SpiffeIdError("path segment characters are limited to letters, numbers, dots, dashes, and underscores");
    }
  }
}
