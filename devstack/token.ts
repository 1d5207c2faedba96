/**
 * `deno task token -- --sub alice [--roles ADMIN,SUPPORT] [--ttl 3600]`
 *
 * Prints a dev access token on stdout, signed with the dev IdP's persisted
 * key (created when missing), for issuer http://127.0.0.1:8089 and audience
 * securepay-api. It works whether or not `deno task dev` is running, since
 * the running IdP publishes the same key.
 *
 * Environment: DEVSTACK_DIR (state directory, default `.devstack` at the
 * repository root) and DEVSTACK_IDP_PORT (default 8089), as for `deno task dev`.
 */

import { loadOrCreateDevKey } from "./dev_key.ts";
import { DEV_AUDIENCE, parseTokenRequest, signDevToken, TTL_DEFAULT_SECONDS, TTL_MAX_SECONDS } from "./dev_token.ts";
import { defaultStateDir, idpIssuer } from "./_paths.ts";

export const TOKEN_USAGE =
  `Usage: deno task token -- --sub <subject> [--roles USER,ADMIN,SUPPORT,AUDITOR] [--ttl <seconds>]

  --sub    the token's subject (1–255 characters), e.g. alice
  --roles  comma-separated roles (default USER)
  --ttl    lifetime in seconds, 1–${TTL_MAX_SECONDS} (default ${TTL_DEFAULT_SECONDS})`;

export interface TokenArgs {
  readonly sub?: string;
  readonly roles?: string[];
  readonly ttlSeconds?: number;
  readonly help: boolean;
}

/** Parses `--name value` and `--name=value`; throws TypeError naming every bad flag. */
export function parseTokenArgs(args: readonly string[]): TokenArgs {
  const problems: string[] = [];
  const values = new Map<string, string>();
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") continue;
    if (arg === "--help" || arg === "-h") {
      help = true;
      continue;
    }
    const match = /^--(sub|roles|ttl)(?:=(.*))?$/s.exec(arg);
    if (!match) {
      problems.push(`unknown argument ${JSON.stringify(arg)}`);
      continue;
    }
    const name = match[1]!;
    let value = match[2];
    if (value === undefined) {
      const next = args[i + 1];
      if (next === undefined || next.startsWith("--")) {
        problems.push(`--${name} needs a value`);
        continue;
      }
      value = next;
      i++;
    }
    if (values.has(name)) problems.push(`--${name} is given twice`);
    values.set(name, value);
  }
  let ttlSeconds: number | undefined;
  const ttl = values.get("ttl");
  if (ttl !== undefined) {
    ttlSeconds = /^\d{1,9}$/.test(ttl) ? Number(ttl) : NaN;
    if (Number.isNaN(ttlSeconds)) problems.push(`--ttl must be a whole number of seconds, got ${JSON.stringify(ttl)}`);
  }
  if (!help && !values.has("sub")) problems.push("--sub is required");
  if (problems.length > 0) throw new TypeError(problems.join("; "));
  const roles = values.get("roles")?.split(",").map((r) => r.trim().toUpperCase()).filter((r) => r !== "");
  return { sub: values.get("sub"), roles, ttlSeconds, help };
}

/** Builds the token for `args`, or throws TypeError with every problem. */
export async function tokenFromArgs(args: readonly string[], env: Record<string, string | undefined>): Promise<string> {
  const parsed = parseTokenArgs(args);
  const request = parseTokenRequest({
    sub: parsed.sub,
    ...(parsed.roles ? { roles: parsed.roles } : {}),
    ...(parsed.ttlSeconds !== undefined ? { ttl_seconds: parsed.ttlSeconds } : {}),
  });
  if (!request.ok) throw new TypeError(request.issues.map((i) => i.replace(/^ttl_seconds/, "--ttl")).join("; "));
  const key = await loadOrCreateDevKey(env.DEVSTACK_DIR || defaultStateDir());
  return await signDevToken(key, request.value, { issuer: idpIssuer(env), audience: DEV_AUDIENCE });
}

if (import.meta.main) {
  const args = Deno.args;
  if (args.includes("--help") || args.includes("-h")) {
    console.log(TOKEN_USAGE);
    Deno.exit(0);
  }
  try {
    console.log(await tokenFromArgs(args, Deno.env.toObject()));
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    console.error(`Cannot issue a token as ${error.message}\n\n${TOKEN_USAGE}`);
    Deno.exit(2);
  }
}
