/**
 * The dev identity provider: publishes the JWKS the gateway verifies
 * against and mints tokens on request. It exists only in devstack; in
 * production the gateway points AUTH_JWKS_URL and AUTH_ISSUER at a real IdP.
 *
 * - `GET /.well-known/jwks.json` → `{keys: [<ES256 public JWK with kid>]}`
 * - `GET /.well-known/openid-configuration` → issuer, jwks_uri, token_endpoint
 * - `POST /token` `{sub, roles?, ttl_seconds?}` → `{access_token, token_type, expires_in}`
 */

import type { Role } from "@securepay/shared";
import { loadOrCreateDevKey } from "./dev_key.ts";
import { DEV_AUDIENCE, DEV_IDP_PORT, parseTokenRequest, signDevToken, TTL_DEFAULT_SECONDS } from "./dev_token.ts";

/** Token requests are tiny; anything bigger is refused unread. */
export const MAX_TOKEN_BODY_BYTES = 16 * 1024;

export interface DevIdpOptions {
  /** Default 8089; 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** The state directory holding `idp/key.jwk`. */
  stateDir: string;
}

export interface DevIdp extends AsyncDisposable {
  readonly port: number;
  /** `http://127.0.0.1:<port>`: the `iss` of every token. */
  readonly issuer: string;
  readonly jwksUrl: string;
  readonly audience: string;
  issueToken(sub: string, roles?: readonly Role[], ttlSeconds?: number): Promise<string>;
  close(): Promise<void>;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", ...headers },
  });
}

function problem(status: number, code: string, detail: string, issues?: readonly string[]): Response {
  const body = { type: "about:blank", title: code.replaceAll("_", " "), status, code, detail, issues };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/problem+json", "cache-control": "no-store" },
  });
}

/** Reads at most `limit` bytes of the body; undefined when it is longer. */
async function readBounded(request: Request, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await request.body?.cancel();
    return undefined;
  }
  if (!request.body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const key = await loadOrCreateDevKey(options.stateDir);
  const hostname = options.hostname ?? "127.0.0.1";
  // The issuer must be an address clients can use, not a wildcard.
  const issuerHost = hostname === "0.0.0.0" || hostname === "::" ? "127.0.0.1" : hostname;
  let issuer = "";
  let jwksUrl = "";

  const issue = async (sub: string, roles: readonly Role[], ttlSeconds: number) =>
    await signDevToken(key, { sub, roles, ttlSeconds }, { issuer, audience: DEV_AUDIENCE });

  const handle = async (request: Request): Promise<Response> => {
    const { pathname } = new URL(request.url);
    switch (pathname) {
      case "/.well-known/jwks.json":
        if (request.method !== "GET" && request.method !== "HEAD") break;
        return json(200, { keys: [key.publicJwk] }, { "cache-control": "max-age=60" });
      case "/.well-known/openid-configuration":
        if (request.method !== "GET" && request.method !== "HEAD") break;
        return json(200, {
          issuer,
          jwks_uri: jwksUrl,
          token_endpoint: `${issuer}/token`,
          id_token_signing_alg_values_supported: ["ES256"],
        });
      case "/healthz":
        return json(200, { status: "ok" });
      case "/token": {
        if (request.method !== "POST") break;
        const bytes = await readBounded(request, MAX_TOKEN_BODY_BYTES);
        if (bytes === undefined) {
          return problem(413, "payload_too_large", `The body must be at most ${MAX_TOKEN_BODY_BYTES} bytes.`);
        }
        let body: unknown;
        try {
          body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
        } catch {
          return problem(400, "validation_error", "The body must be JSON: {sub, roles?, ttl_seconds?}.");
        }
        const parsed = parseTokenRequest(body);
        if (!parsed.ok) return problem(400, "validation_error", "The token request is invalid.", parsed.issues);
        const { sub, roles, ttlSeconds } = parsed.value;
        return json(200, {
          access_token: await issue(sub, roles, ttlSeconds),
          token_type: "Bearer",
          expires_in: ttlSeconds,
        });
      }
      default:
        return problem(404, "not_found", "No such endpoint on the dev IdP.");
    }
    return problem(405, "method_not_allowed", `${request.method} is not allowed on ${pathname}.`);
  };

  let server: Deno.HttpServer<Deno.NetAddr>;
  try {
    server = Deno.serve({ hostname, port: options.port ?? DEV_IDP_PORT, onListen: () => {} }, handle);
  } catch (error) {
    throw new Error(`Cannot start the dev IdP as ${hostname}:${options.port ?? DEV_IDP_PORT} is unavailable`, {
      cause: error,
    });
  }
  const port = server.addr.port;
  issuer = `http://${issuerHost}:${port}`;
  jwksUrl = `${issuer}/.well-known/jwks.json`;
  let closed: Promise<void> | undefined;
  const close = () => (closed ??= server.shutdown());
  return {
    port,
    issuer,
    jwksUrl,
    audience: DEV_AUDIENCE,
    issueToken: (sub, roles = ["USER"], ttlSeconds = TTL_DEFAULT_SECONDS) => {
      const parsed = parseTokenRequest({ sub, roles, ttl_seconds: ttlSeconds });
      if (!parsed.ok) return Promise.reject(new TypeError(`Cannot issue a token as ${parsed.issues.join("; ")}`));
      return issue(parsed.value.sub, parsed.value.roles, parsed.value.ttlSeconds);
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
