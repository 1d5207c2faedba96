/** The ready banner `deno task dev` prints once everything answers. */

import type { DemoUser, SeededAccount } from "./seed.ts";

export interface BannerInput {
  gatewayUrl: string;
  issuer: string;
  databaseUrl: string;
  embeddedDatabase: boolean;
  kafkaBrokers: readonly string[];
  aliceToken: string;
  demo: Readonly<Record<DemoUser, SeededAccount>>;
  /** Idempotency-Key used in the example; a fresh one per start. */
  idempotencyKey: string;
}

export const BANNER_CURL_START = "# --- curl example ---";
export const BANNER_CURL_END = "# --- end of curl example ---";

/** The example payment request: alice pays bob €10.50. */
export function curlExample(input: BannerInput): string {
  const body = JSON.stringify({
    from_account: input.demo.alice.accountId,
    to_account: input.demo.bob.accountId,
    amount: 1050,
    currency: "EUR",
    description: "Lunch",
  });
  return [
    `curl -sS -X POST '${input.gatewayUrl}/v1/payments' \\`,
    `  -H 'Authorization: Bearer ${input.aliceToken}' \\`,
    `  -H 'Idempotency-Key: ${input.idempotencyKey}' \\`,
    `  -H 'Content-Type: application/json' \\`,
    `  -d '${body}'`,
  ].join("\n");
}

export function readyBanner(input: BannerInput): string {
  const rule = "=".repeat(78);
  const euros = (minor: number) => `€${(minor / 100).toFixed(2)}`;
  return [
    "",
    rule,
    "  SecurePay dev stack is READY",
    rule,
    `  API (gateway):   ${input.gatewayUrl}        OpenAPI: ${input.gatewayUrl}/openapi.json`,
    `  dev IdP:         ${input.issuer}     (POST /token, /.well-known/jwks.json)`,
    `  PostgreSQL:      ${input.databaseUrl}${input.embeddedDatabase ? "  (embedded PGlite)" : ""}`,
    `  Kafka:           ${input.kafkaBrokers.join(",")}`,
    "",
    `  alice's account: ${input.demo.alice.accountId}  balance ${euros(input.demo.alice.balance)}`,
    `  bob's account:   ${input.demo.bob.accountId}  balance ${euros(input.demo.bob.balance)}`,
    "",
    "  alice's token (valid 1 hour):",
    `  ${input.aliceToken}`,
    "",
    "  Pay bob €10.50 from alice's account (202 Accepted, status PENDING):",
    "",
    BANNER_CURL_START,
    curlExample(input),
    BANNER_CURL_END,
    "",
    "  A moment later the payment is COMPLETED (account applied it through Kafka):",
    "",
    `curl -sS '${input.gatewayUrl}/v1/payments?account_id=${input.demo.alice.accountId}&limit=1' \\`,
    `  -H 'Authorization: Bearer ${input.aliceToken}'`,
    "",
    "  Another token:   deno task token -- --sub alice [--roles ADMIN,SUPPORT] [--ttl 3600]",
    "  Stop:            Ctrl-C",
    rule,
    "",
  ].join("\n");
}
