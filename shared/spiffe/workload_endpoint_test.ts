import assert from "node:assert/strict";
import { parseWorkloadEndpoint, WorkloadEndpointError, workloadEndpointFromEnv } from "./workload_endpoint.ts";

Deno.test("parseWorkloadEndpoint() accepts unix sockets and tcp IP:port addresses", () => {
  assert.deepEqual(parseWorkloadEndpoint("unix:///run/spire/sockets/agent.sock"), {
    scheme: "unix",
    path: "/run/spire/sockets/agent.sock",
    grpcTarget: "unix:///run/spire/sockets/agent.sock",
  });
  assert.deepEqual(parseWorkloadEndpoint("tcp://127.0.0.1:8000"), {
    scheme: "tcp",
    host: "127.0.0.1",
    port: 8000,
    grpcTarget: "127.0.0.1:8000",
  });
  assert.deepEqual(parseWorkloadEndpoint("tcp://[::1]:8000"), {
    scheme: "tcp",
    host: "::1",
    port: 8000,
    grpcTarget: "[::1]:8000",
  });
});

const REJECTED: readonly [string, RegExp][] = [
  ["", /not a valid URI/],
  ["/run/agent.sock", /not a valid URI/],
  ["http://127.0.0.1:8000", /"tcp" or "unix" scheme/],
  ["unix:agent.sock", /must not be opaque/],
  ["unix:/run/agent.sock", /must not be opaque/],
  ["unix://", /must include a path/],
  ["unix:///", /must include a path/],
  ["unix://host/run/agent.sock", /authority component/],
  ["unix://user@host/run/agent.sock", /user info/],
  ["unix:///run/agent.sock?x=1", /query values/],
  ["unix:///run/agent.sock#frag", /fragment/],
  ["tcp:127.0.0.1:8000", /must not be opaque/],
  ["tcp://localhost:8000", /must be an IP:port/],
  ["tcp://127.0.0.1", /must include a port/],
  ["tcp://127.0.0.1:8000/foo", /must not include a path/],
  ["tcp://127.0.0.1:8000/", /must not include a path/],
  ["tcp://user:pw@127.0.0.1:8000", /user info/],
  ["tcp://127.0.0.1:8000?x=1", /query values/],
  ["tcp://127.0.0.1:8000#f", /fragment/],
];

for (const [input, reason] of REJECTED) {
  Deno.test(`parseWorkloadEndpoint() rejects ${JSON.stringify(input)} as ${reason.source}`, () => {
    assert.throws(
      () => parseWorkloadEndpoint(input),
      (e: unknown) => e instanceof WorkloadEndpointError && reason.test(e.message),
    );
  });
}

Deno.test("workloadEndpointFromEnv() prefers an explicit address and falls back to SPIFFE_ENDPOINT_SOCKET", () => {
  const env = { SPIFFE_ENDPOINT_SOCKET: "unix:///tmp/a.sock" };
  assert.equal(workloadEndpointFromEnv(env).grpcTarget, "unix:///tmp/a.sock");
  assert.equal(workloadEndpointFromEnv(env, "unix:///tmp/b.sock").grpcTarget, "unix:///tmp/b.sock");
  assert.throws(() => workloadEndpointFromEnv({}), /not configured/);
  assert.throws(() => workloadEndpointFromEnv({ SPIFFE_ENDPOINT_SOCKET: " " }), /not configured/);
});
