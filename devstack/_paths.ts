/** Where devstack keeps its state, and the dev IdP's address, from the environment. */

import { DEV_IDP_PORT } from "./dev_token.ts";

/** The repository root (devstack/ lives directly under it). */
export const REPO_ROOT = new URL("../", import.meta.url);

/** `.devstack` at the repository root, whatever the working directory. */
export function defaultStateDir(): string {
  return new URL(".devstack", REPO_ROOT).pathname;
}

/** The IdP port from DEVSTACK_IDP_PORT, else 8089. */
export function idpPort(env: Record<string, string | undefined>): number {
  const raw = env.DEVSTACK_IDP_PORT?.trim();
  if (!raw) return DEV_IDP_PORT;
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port < 1 || port > 65535) {
    throw new TypeError(`DEVSTACK_IDP_PORT must be a port from 1 to 65535, got ${JSON.stringify(raw)}`);
  }
  return port;
}

/** The issuer `deno task dev`'s IdP uses: http://127.0.0.1:<port>. */
export function idpIssuer(env: Record<string, string | undefined>): string {
  return `http://127.0.0.1:${idpPort(env)}`;
}
