import assert from "node:assert/strict";
import { ConfigError, envReader } from "../config.ts";
import { isLoopback, readProgramIdentity } from "./program_identity.ts";

function read(env: Record<string, string>, addresses: string[]) {
  const r = envReader(env);
  const config = readProgramIdentity(r, addresses);
  r.done();
  return config;
}

Deno.test("readProgramIdentity() takes the Workload API socket", () => {
  assert.deepEqual(read({ SPIFFE_ENDPOINT_SOCKET: "unix:///run/spire/agent.sock" }, ["0.0.0.0:8081"]), {
    kind: "spiffe",
    endpoint: "unix:///run/spire/agent.sock",
  });
});

Deno.test("readProgramIdentity() requires a socket unless the insecure loopback mode is asked for", () => {
  assert.throws(
    () => read({}, ["127.0.0.1:8081"]),
    (e: ConfigError) => /SPIFFE_ENDPOINT_SOCKET is required/.test(e.message),
  );
  assert.throws(
    () => read({ SPIFFE_ENDPOINT_SOCKET: "http://x" }, ["127.0.0.1:8081"]),
    (e: ConfigError) => /SPIFFE_ENDPOINT_SOCKET is invalid/.test(e.message),
  );
});

Deno.test("readProgramIdentity() refuses plaintext gRPC anywhere but the loopback", () => {
  assert.deepEqual(read({ GRPC_INSECURE_LOOPBACK: "true" }, ["127.0.0.1:8081", "localhost:50051"]), {
    kind: "insecure-loopback",
  });
  assert.throws(
    () => read({ GRPC_INSECURE_LOOPBACK: "true" }, ["0.0.0.0:8081", "account:50051"]),
    (e: ConfigError) => e.message.includes("0.0.0.0:8081, account:50051"),
  );
  assert.throws(
    () => read({ GRPC_INSECURE_LOOPBACK: "true", SPIFFE_ENDPOINT_SOCKET: "unix:///s.sock" }, []),
    (e: ConfigError) => /cannot be combined/.test(e.message),
  );
});

Deno.test("isLoopback() knows the loopback names only", () => {
  for (const yes of ["127.0.0.1", "localhost:1", "[::1]:50051", "::1"]) assert.ok(isLoopback(yes), yes);
  for (const no of ["0.0.0.0", "10.0.0.1:1", "localhost.evil:1", "account-service:50051"]) {
    assert.ok(!isLoopback(no), no);
  }
});
