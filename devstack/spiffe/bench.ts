/**
 * `deno task bench:mtls`: what mTLS costs. One run measures, on this
 * machine, gRPC unary latency (grpc.health.v1 Check, sequential calls on a
 * warm channel) in plaintext and over SPIFFE mTLS, and the time to
 * establish a fresh mTLS connection (TCP + TLS handshake + first call)
 * against a fresh plaintext connection. Prints a table; asserts nothing.
 *
 *   deno task bench:mtls [-- --calls 5000 --handshakes 200]
 */

import { type ChannelCredentials, credentials as grpcCredentials, Metadata, ServerCredentials } from "@grpc/grpc-js";
import { serveGrpc, silentLogger } from "@securepay/shared";
import { HealthClient } from "@securepay/shared/gen/health";
import {
  authorizeCallersOf,
  authorizeServer,
  mtlsClientCredentials,
  mtlsServerCredentials,
  openX509Source,
} from "@securepay/shared/spiffe";
import { startWorkloadApi } from "./workload_api_server.ts";

function arg(name: string, fallback: number): number {
  const i = Deno.args.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(Deno.args[i + 1]);
}
const CALLS = arg("calls", 5_000);
const HANDSHAKES = arg("handshakes", 200);
const WARMUP = 500;

function check(client: HealthClient): Promise<void> {
  return new Promise((resolve, reject) =>
    client.check(
      { service: "" },
      new Metadata(),
      { deadline: new Date(Date.now() + 5_000) },
      (e) => e ? reject(e) : resolve(),
    )
  );
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 0.5).toFixed(3),
    p99: percentile(sorted, 0.99).toFixed(3),
    mean: (sorted.reduce((a, b) => a + b, 0) / sorted.length).toFixed(3),
  };
}

async function unaryLatency(address: string, credentials: ChannelCredentials): Promise<number[]> {
  const client = new HealthClient(address, credentials);
  try {
    for (let i = 0; i < WARMUP; i++) await check(client);
    const samples: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const t0 = performance.now();
      await check(client);
      samples.push(performance.now() - t0);
    }
    return samples;
  } finally {
    client.close();
  }
}

async function connectTimes(address: string, credentials: ChannelCredentials): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < HANDSHAKES; i++) {
    // A local subchannel pool makes every client open its own connection.
    const client = new HealthClient(address, credentials, { "grpc.use_local_subchannel_pool": 1 });
    const t0 = performance.now();
    await check(client);
    samples.push(performance.now() - t0);
    client.close();
  }
  return samples;
}

const stateDir = await Deno.makeTempDir({ prefix: "securepay-bench-mtls-" });
try {
  await using api = await startWorkloadApi({ stateDir, workloads: ["api-gateway", "payment-service"] });
  await using serverSource = await openX509Source({ address: api.endpoint("payment-service"), logger: silentLogger });
  await using clientSource = await openX509Source({ address: api.endpoint("api-gateway"), logger: silentLogger });
  await using plain = await serveGrpc({
    host: "127.0.0.1",
    port: 0,
    credentials: ServerCredentials.createInsecure(),
    services: [],
    logger: silentLogger,
  });
  await using secure = await serveGrpc({
    host: "127.0.0.1",
    port: 0,
    credentials: mtlsServerCredentials(serverSource, {
      authorize: authorizeCallersOf("payment-service"),
      logger: silentLogger,
    }),
    services: [],
    logger: silentLogger,
  });
  const insecure = grpcCredentials.createInsecure();
  const mtls = mtlsClientCredentials(clientSource, { authorize: authorizeServer("payment-service") });

  const rows = {
    "unary, plaintext": summary(await unaryLatency(`localhost:${plain.port}`, insecure)),
    "unary, SPIFFE mTLS": summary(await unaryLatency(`localhost:${secure.port}`, mtls)),
    "new connection + first call, plaintext": summary(await connectTimes(`localhost:${plain.port}`, insecure)),
    "new connection + first call, SPIFFE mTLS": summary(await connectTimes(`localhost:${secure.port}`, mtls)),
  };
  console.log(
    `grpc.health.v1 Check over loopback, Deno ${Deno.version.deno}; ${CALLS} unary calls after ${WARMUP} warm-up, ${HANDSHAKES} connections; ECDSA P-256 SVIDs`,
  );
  console.table(
    Object.fromEntries(
      Object.entries(rows).map(([k, v]) => [k, { "p50 ms": v.p50, "p99 ms": v.p99, "mean ms": v.mean }]),
    ),
  );
} finally {
  await Deno.remove(stateDir, { recursive: true });
}
