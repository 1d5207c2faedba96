/**
 * mTLS between real processes' building blocks, fed by devstack's Workload
 * API: SVIDs rotating every second and a half under a steady stream of
 * calls (zero failures, no restart), and an independent client (Python's
 * grpcio) that fetches its SVID over the socket and calls a service with it.
 */

import assert from "node:assert/strict";
import { Metadata } from "@grpc/grpc-js";
import { silentLogger } from "@securepay/shared";
import { serveGrpc } from "@securepay/shared";
import { HealthCheckResponse_ServingStatus, HealthClient } from "@securepay/shared/gen/health";
import {
  authorizeCallersOf,
  authorizeServer,
  mtlsClientCredentials,
  mtlsServerCredentials,
  openX509Source,
} from "@securepay/shared/spiffe";
import { startWorkloadApi } from "./workload_api_server.ts";

function check(client: HealthClient): Promise<number> {
  return new Promise((resolve, reject) => {
    client.check({ service: "" }, new Metadata(), { deadline: new Date(Date.now() + 5_000) }, (error, response) => {
      if (error) reject(error);
      else resolve(response.status);
    });
  });
}

Deno.test("mTLS calls keep succeeding across SVID rotations on both sides, without a restart", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "spiffe-rotation-" });
  try {
    await using api = await startWorkloadApi({
      stateDir,
      ttlSeconds: 3,
      workloads: ["api-gateway", "payment-service"],
    });
    await using serverSource = await openX509Source({ address: api.endpoint("payment-service"), logger: silentLogger });
    await using clientSource = await openX509Source({ address: api.endpoint("api-gateway"), logger: silentLogger });
    await using server = await serveGrpc({
      host: "127.0.0.1",
      port: 0,
      credentials: mtlsServerCredentials(serverSource, {
        authorize: authorizeCallersOf("payment-service"),
        logger: silentLogger,
      }),
      services: [],
      logger: silentLogger,
    });
    const credentials = mtlsClientCredentials(clientSource, { authorize: authorizeServer("payment-service") });
    const longLived = new HealthClient(`localhost:${server.port}`, credentials);
    const serverSerials = new Set<string>();
    serverSource.onUpdate((c) => serverSerials.add(c.svid.leaf.serialNumber));
    const issuedBefore = api.issuedCount("payment-service");

    let ok = 0;
    const failures: string[] = [];
    const deadline = Date.now() + 6_000;
    let round = 0;
    while (Date.now() < deadline) {
      // A fresh channel every few rounds forces a handshake with the current SVIDs.
      const fresh = round % 5 === 0
        ? new HealthClient(`localhost:${server.port}`, credentials, { "grpc.use_local_subchannel_pool": 1 })
        : undefined;
      const clients = fresh ? [longLived, fresh] : [longLived];
      const results = await Promise.allSettled(clients.map((c) => check(c)));
      fresh?.close();
      for (const r of results) {
        if (r.status === "fulfilled" && r.value === HealthCheckResponse_ServingStatus.SERVING) ok += 1;
        else failures.push(r.status === "rejected" ? String(r.reason?.message ?? r.reason) : "not serving");
      }
      round += 1;
      await new Promise((r) => setTimeout(r, 50));
    }
    longLived.close();
    const rotations = api.issuedCount("payment-service") - issuedBefore;
    assert.deepEqual(failures, []);
    assert.ok(rotations >= 3, `only ${rotations} rotations`);
    assert.ok(serverSerials.size >= 3, `the server's source saw ${serverSerials.size} new SVIDs`);
    assert.ok(ok > 50, `only ${ok} calls`);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

async function python(...args: string[]): Promise<Record<string, unknown>> {
  const script = new URL("./compliance_client.py", import.meta.url).pathname;
  const out = await new Deno.Command("/usr/bin/python3", { args: [script, ...args], stdout: "piped", stderr: "piped" })
    .output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `python failed (is Debian's python3-grpcio installed?):\n${stderr}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test("Python grpcio fetches an SVID over the socket, calls an mTLS service with it, and is refused without the header", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "spiffe-python-" });
  try {
    await using api = await startWorkloadApi({ stateDir, workloads: ["api-gateway", "account-service"] });
    await using source = await openX509Source({ address: api.endpoint("account-service"), logger: silentLogger });
    await using server = await serveGrpc({
      host: "127.0.0.1",
      port: 0,
      credentials: mtlsServerCredentials(source, {
        authorize: authorizeCallersOf("account-service"),
        logger: silentLogger,
      }),
      services: [],
      logger: silentLogger,
    });
    const result = await python(
      "fetch-and-call",
      api.socketPath("api-gateway"),
      String(server.port),
      "account-service",
    );
    assert.deepEqual(result, {
      spiffe_id: "spiffe://securepay.dev/api-gateway",
      health_status: HealthCheckResponse_ServingStatus.SERVING,
    });
    assert.deepEqual(await python("no-header", api.socketPath("api-gateway")), {
      code: "INVALID_ARGUMENT",
      details: "security header missing from request",
    });
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});
