/**
 * @module
 * Local infrastructure for `deno task dev` and the tests (never shipped):
 * the dev IdP, the embedded PostgreSQL, the process supervisor and the
 * whole stack as `deno task dev` boots it.
 */

export * from "./banner.ts";
export * from "./dev_key.ts";
export * from "./dev_token.ts";
export * from "./embedded_postgres.ts";
export * from "./idp.ts";
export * from "./program.ts";
export * from "./seed.ts";
export * from "./stack.ts";
