/**
 * The Workload API client of shared/spiffe against devstack's server over
 * real unix sockets: identities per socket, the security header, unknown
 * workloads, rotation pushes, bundles, and reconnection after a restart.
 */

import assert from "node:assert/strict";
import { credentials, Metadata, type ServiceError, status as GrpcStatus } from "@grpc/grpc-js";
import { SpiffeWorkloadAPIClient } from "@securepay/shared/gen/spiffe";
import { silentLogger } from "@securepay/shared";
import { openX509Source, WorkloadApiClient, type X509SvidResponse } from "@securepay/shared/spiffe";
import { startWorkloadApi } from "./workload_api_server.ts";

async function tempState() {
  const dir = await Deno.makeTempDir({ prefix: "spiffe-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

function firstError(stream: NodeJS.EventEmitter & { cancel(): void }): Promise<ServiceError> {
  return new Promise((resolve, reject) => {
    stream.on("data", () => reject(new Error("received data")));
    stream.on("error", resolve);
    stream.on("end", () => reject(new Error("ended without error")));
  });
}

Deno.test("startWorkloadApi() issues each socket's own SVID, chained to bundle.pem", async () => {
  await using state = await tempState();
  await using api = await startWorkloadApi({ stateDir: state.dir, ttlSeconds: 600 });
  for (const name of ["api-gateway", "payment-service", "account-service", "notification-service"]) {
    const client = new WorkloadApiClient(api.endpoint(name));
    try {
      const context = await client.fetchX509Context();
      assert.equal(context.svid.id.toString(), `spiffe://securepay.dev/${name}`);
      const ttlMs = context.svid.expiresAt.getTime() - Date.now();
      assert.ok(ttlMs > 500_000 && ttlMs <= 600_000, `ttl ${ttlMs}`);
      assert.equal(context.bundles.getX509Bundle(api.trustDomain)!.pem(), await Deno.readTextFile(api.bundlePath));
    } finally {
      client.close();
    }
  }
  assert.equal(api.socketPath("api-gateway"), `${state.dir}/spiffe/api-gateway.sock`);
  assert.equal((await Deno.stat(api.socketPath("api-gateway"))).mode! & 0o777, 0o600);
});

Deno.test("startWorkloadApi() answers InvalidArgument without the security header and Unimplemented for JWT-SVIDs", async () => {
  await using state = await tempState();
  await using api = await startWorkloadApi({ stateDir: state.dir, workloads: ["api-gateway"] });
  const raw = new SpiffeWorkloadAPIClient(api.endpoint("api-gateway"), credentials.createInsecure());
  try {
    const error = await firstError(raw.fetchX509Svid({}, new Metadata()));
    assert.equal(error.code, GrpcStatus.INVALID_ARGUMENT);
    assert.equal(error.details, "security header missing from request");
    const wrong = new Metadata();
    wrong.set("workload.spiffe.io", "yes");
    assert.equal((await firstError(raw.fetchX509Bundles({}, wrong))).code, GrpcStatus.INVALID_ARGUMENT);
    const unimplemented = await new Promise<ServiceError>((resolve) =>
      raw.fetchJwtsvid({ audience: ["x"], spiffeId: "" }, (error) => resolve(error!))
    );
    assert.equal(unimplemented.code, GrpcStatus.UNIMPLEMENTED);
  } finally {
    raw.close();
  }
});

Deno.test("startWorkloadApi() answers PermissionDenied 'no identity issued' on a socket without an identity", async () => {
  await using state = await tempState();
  await using api = await startWorkloadApi({
    stateDir: state.dir,
    workloads: ["api-gateway"],
    unregistered: ["stranger"],
  });
  const header = new Metadata();
  header.set("workload.spiffe.io", "true");
  const raw = new SpiffeWorkloadAPIClient(api.endpoint("stranger"), credentials.createInsecure());
  try {
    const error = await firstError(raw.fetchX509Svid({}, header));
    assert.equal(error.code, GrpcStatus.PERMISSION_DENIED);
    assert.equal(error.details, "no identity issued");
  } finally {
    raw.close();
  }
  // The source keeps retrying PermissionDenied (the standard says so) until its bound.
  await assert.rejects(
    openX509Source({
      address: api.endpoint("stranger"),
      logger: silentLogger,
      firstUpdateTimeoutMs: 300,
      backoffStepMs: 50,
    }),
    /Cannot obtain an X.509-SVID .* no SVID within 300 ms/,
  );
});

Deno.test("WorkloadApiClient.watchX509Context() receives a fresh SVID at each half-life, on one open stream", async () => {
  await using state = await tempState();
  await using api = await startWorkloadApi({ stateDir: state.dir, ttlSeconds: 2, workloads: ["payment-service"] });
  const client = new WorkloadApiClient(api.endpoint("payment-service"));
  const controller = new AbortController();
  const updates: X509SvidResponse[] = [];
  const errors: Error[] = [];
  const watching = client.watchX509Context({
    onUpdate(value) {
      updates.push(value);
      if (updates.length === 3) controller.abort();
    },
    onError: (e) => errors.push(e),
  }, controller.signal);
  const timer = setTimeout(() => controller.abort(), 10_000);
  await watching;
  clearTimeout(timer);
  client.close();
  assert.equal(updates.length, 3, `errors: ${errors.map((e) => e.message)}`);
  assert.deepEqual(errors, []);
  const serials = new Set(updates.map((u) => u.svid.leaf.serialNumber));
  assert.equal(serials.size, 3, "every push is a new certificate");
  for (const u of updates) assert.equal(u.svid.id.toString(), "spiffe://securepay.dev/payment-service");
});

Deno.test("WorkloadApiClient.watchX509Bundles() receives the trust bundle keyed by trust-domain id", async () => {
  await using state = await tempState();
  await using api = await startWorkloadApi({ stateDir: state.dir, workloads: ["account-service"] });
  const client = new WorkloadApiClient(api.endpoint("account-service"));
  const controller = new AbortController();
  let received: string | undefined;
  await client.watchX509Bundles({
    onUpdate(bundles) {
      received = bundles.getX509Bundle(api.trustDomain)?.pem();
      controller.abort();
    },
  }, controller.signal);
  client.close();
  assert.equal(received, await Deno.readTextFile(api.bundlePath));
});

Deno.test("openX509Source() reconnects after the Workload API restarts and keeps the same CA", async () => {
  await using state = await tempState();
  const first = await startWorkloadApi({ stateDir: state.dir, workloads: ["api-gateway"] });
  const bundle = await Deno.readTextFile(first.bundlePath);
  await using source = await openX509Source({
    address: first.endpoint("api-gateway"),
    logger: silentLogger,
    backoffStepMs: 50,
    backoffMaxMs: 200,
  });
  const before = source.getX509Svid().leaf.serialNumber;
  const updated = new Promise<void>((resolve) => source.onUpdate(() => resolve()));
  await first.close();
  await new Promise((r) => setTimeout(r, 300));
  await using second = await startWorkloadApi({ stateDir: state.dir, workloads: ["api-gateway"] });
  await updated;
  assert.notEqual(source.getX509Svid().leaf.serialNumber, before);
  assert.equal(await Deno.readTextFile(second.bundlePath), bundle, "the persisted CA is reused");
  assert.equal(source.getX509Bundle(second.trustDomain)!.pem(), bundle);
});
