import assert from "node:assert/strict";
import { SpiffeId, SpiffeIdError, TrustDomain } from "./spiffe_id.ts";

const ACCEPTED: readonly [string, string, string][] = [
  // [input, trust domain, path]
  ["spiffe://securepay.dev/payment-service", "securepay.dev", "/payment-service"],
  ["spiffe://example.org", "example.org", ""],
  ["spiffe://trust_domain-1.example/ns/prod/sa/default", "trust_domain-1.example", "/ns/prod/sa/default"],
  ["spiffe://td/Path.With-UPPER_case/..x/.y", "td", "/Path.With-UPPER_case/..x/.y"],
  ["spiffe://a/" + "p".repeat(2048 - "spiffe://a/".length), "a", "/" + "p".repeat(2048 - "spiffe://a/".length)],
  ["spiffe://" + "d".repeat(255), "d".repeat(255), ""],
];

for (const [input, trustDomain, path] of ACCEPTED) {
  Deno.test(`SpiffeId.parse() accepts ${input.slice(0, 60)}`, () => {
    const id = SpiffeId.parse(input);
    assert.equal(id.trustDomain.name, trustDomain);
    assert.equal(id.path, path);
    assert.equal(id.toString(), input);
    assert.equal(id.isRoot, path === "");
  });
}

const REJECTED: readonly [string, RegExp][] = [
  ["", /cannot be empty/],
  ["securepay.dev/payment-service", /scheme is missing or invalid/],
  ["https://securepay.dev/x", /scheme is missing or invalid/],
  ["SPIFFE://securepay.dev/x", /scheme is missing or invalid/],
  ["spiffe:/securepay.dev/x", /scheme is missing or invalid/],
  ["spiffe:///x", /trust domain is missing/],
  ["spiffe://", /trust domain is missing/],
  ["spiffe://SecurePay.dev/x", /trust domain characters/],
  ["spiffe://user@securepay.dev/x", /trust domain characters/],
  ["spiffe://securepay.dev:8443/x", /trust domain characters/],
  ["spiffe://secure%70ay.dev/x", /trust domain characters/],
  ["spiffe://securepay.dev?x=1", /trust domain characters/],
  ["spiffe://securepay.dev#frag", /trust domain characters/],
  ["spiffe://" + "d".repeat(256), /trust domain is longer than 255 bytes/],
  ["spiffe://securepay.dev/", /trailing slash/],
  ["spiffe://securepay.dev/a/", /trailing slash/],
  ["spiffe://securepay.dev//a", /empty segments/],
  ["spiffe://securepay.dev/a/./b", /dot segments/],
  ["spiffe://securepay.dev/a/..", /dot segments/],
  ["spiffe://securepay.dev/a%20b", /path segment characters/],
  ["spiffe://securepay.dev/a?query", /path segment characters/],
  ["spiffe://securepay.dev/a#frag", /path segment characters/],
  ["spiffe://securepay.dev/ä", /path segment characters/],
  ["spiffe://securepay.dev/a b", /path segment characters/],
  ["spiffe://a/" + "p".repeat(2048), /longer than 2048 bytes/],
];

for (const [input, reason] of REJECTED) {
  Deno.test(`SpiffeId.parse() rejects ${JSON.stringify(input.slice(0, 60))} as ${reason.source}`, () => {
    assert.throws(() => SpiffeId.parse(input), (e: unknown) => e instanceof SpiffeIdError && reason.test(e.message));
    assert.equal(SpiffeId.isValid(input), false);
  });
}

Deno.test("TrustDomain.parse() accepts a name or a trust-domain id and builds workload ids", () => {
  const td = TrustDomain.parse("securepay.dev");
  assert.ok(td.equals(TrustDomain.parse("spiffe://securepay.dev")));
  assert.equal(td.idString(), "spiffe://securepay.dev");
  const id = td.id("/account-service");
  assert.ok(id.memberOf(td));
  assert.ok(id.equals(SpiffeId.parse("spiffe://securepay.dev/account-service")));
  assert.equal(JSON.stringify({ id }), '{"id":"spiffe://securepay.dev/account-service"}');
  assert.throws(() => TrustDomain.parse("Bad.Domain"), SpiffeIdError);
  assert.throws(() => TrustDomain.parse(""), SpiffeIdError);
});
