/**
 * mTLS over real sockets: a grpc.health.v1 server with mtlsServerCredentials
 * and clients with mtlsClientCredentials (or deliberately broken ones),
 * proving what the server refuses, what the client refuses, and that a
 * rotated SVID is used without a restart.
 */

import assert from "node:assert/strict";
import { credentials as grpcCredentials, Metadata, type ServiceError, status as GrpcStatus } from "@grpc/grpc-js";
import { HealthCheckResponse_ServingStatus, HealthClient } from "../gen/grpc/health/v1/health.ts";
import { serveGrpc } from "../grpc.ts";
import { silentLogger } from "../log.ts";
import { authorizeId, authorizeOneOf } from "./authorizer.ts";
import { SERVICE_IDS } from "./identities.ts";
import { SECUREPAY_TRUST_DOMAIN as td } from "./identities.ts";
import { mtlsClientCredentials, mtlsServerCredentials } from "./grpc_credentials.ts";
import { X509BundleSet } from "./x509_bundle.ts";
import { type IssueSvidOptions, X509Issuer } from "./x509_issuer.ts";
import { StaticX509Source } from "./x509_source.ts";
import { parseX509Svid } from "./x509_svid.ts";

const ca = await X509Issuer.createRoot(td);

async function sourceFor(id: string, options: IssueSvidOptions & { issuer?: X509Issuer } = {}) {
  const issued = await (options.issuer ?? ca).issueSvid(id, options);
  return new StaticX509Source({
    svid: parseX509Svid(issued.chainDer, issued.keyDer),
    bundles: new X509BundleSet([ca.bundle()]),
  });
}

interface Denial {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

async function startServer(serverId = SERVICE_IDS["payment-service"].toString()) {
  const source = await sourceFor(serverId);
  const denials: Denial[] = [];
  const logger = {
    ...silentLogger,
    warn: (message: string, fields: Record<string, unknown> = {}) => denials.push({ level: "warn", message, fields }),
    with: () => logger,
  } as unknown as typeof silentLogger;
  const server = await serveGrpc({
    host: "127.0.0.1",
    port: 0,
    credentials: mtlsServerCredentials(source, { authorize: authorizeId(SERVICE_IDS["api-gateway"]), logger }),
    services: [],
    logger: silentLogger,
  });
  return {
    source,
    denials,
    address: `localhost:${server.port}`,
    async [Symbol.asyncDispose]() {
      await server.close();
      await source.close();
    },
  };
}

function check(client: HealthClient): Promise<number> {
  return new Promise((resolve, reject) => {
    client.check({ service: "" }, new Metadata(), { deadline: new Date(Date.now() + 5_000) }, (error, response) => {
      if (error) reject(error);
      else resolve(response.status);
    });
  });
}

async function callError(client: HealthClient): Promise<ServiceError> {
  try {
    await check(client);
  } catch (error) {
    return error as ServiceError;
  } finally {
    client.close();
  }
  assert.fail("the call succeeded");
}

Deno.test("mtlsServerCredentials() serves a caller whose SVID §3 allows", async () => {
  await using server = await startServer();
  await using gateway = await sourceFor(SERVICE_IDS["api-gateway"].toString());
  const client = new HealthClient(
    server.address,
    mtlsClientCredentials(gateway, { authorize: authorizeId(SERVICE_IDS["payment-service"]) }),
  );
  try {
    assert.equal(await check(client), HealthCheckResponse_ServingStatus.SERVING);
  } finally {
    client.close();
  }
  assert.deepEqual(server.denials, []);
});

Deno.test("mtlsServerCredentials() answers PERMISSION_DENIED to a valid SVID §3 does not allow, and logs why", async () => {
  await using server = await startServer();
  await using notification = await sourceFor(SERVICE_IDS["notification-service"].toString());
  const client = new HealthClient(
    server.address,
    mtlsClientCredentials(notification, { authorize: authorizeId(SERVICE_IDS["payment-service"]) }),
  );
  const error = await callError(client);
  assert.equal(error.code, GrpcStatus.PERMISSION_DENIED, error.message);
  assert.equal(server.denials.length, 1);
  assert.equal(server.denials[0]!.message, "grpc call denied");
  assert.match(
    String(server.denials[0]!.fields.reason),
    /unexpected ID "spiffe:\/\/securepay.dev\/notification-service"/,
  );
});

Deno.test("mtlsServerCredentials() refuses a client without a certificate", async () => {
  await using server = await startServer();
  const client = new HealthClient(
    server.address,
    grpcCredentials.createSsl(Buffer.from(ca.bundle().pem()), null, null, { checkServerIdentity: () => undefined }),
  );
  const error = await callError(client);
  assert.notEqual(error.code, GrpcStatus.OK);
  assert.ok([GrpcStatus.UNAVAILABLE, GrpcStatus.UNAUTHENTICATED].includes(error.code), error.message);
});

for (
  const [name, issuer, options] of [
    ["a certificate from a foreign CA", await X509Issuer.createRoot(td), {}],
    ["an expired certificate", ca, {
      notBefore: new Date(Date.now() - 7_200_000),
      notAfter: new Date(Date.now() - 3_600_000),
    }],
  ] as const
) {
  Deno.test(`mtlsServerCredentials() refuses ${name}`, async () => {
    await using server = await startServer();
    const issued = await issuer.issueSvid(SERVICE_IDS["api-gateway"], options);
    const client = new HealthClient(
      server.address,
      grpcCredentials.createSsl(
        Buffer.from(ca.bundle().pem()),
        Buffer.from(issued.keyPem),
        Buffer.from(issued.chainPem),
        {
          checkServerIdentity: () => undefined,
        },
      ),
    );
    const error = await callError(client);
    assert.ok([GrpcStatus.UNAVAILABLE, GrpcStatus.UNAUTHENTICATED].includes(error.code), error.message);
  });
}

Deno.test("mtlsClientCredentials() refuses a server presenting another SPIFFE ID", async () => {
  await using server = await startServer(SERVICE_IDS["notification-service"].toString());
  await using gateway = await sourceFor(SERVICE_IDS["api-gateway"].toString());
  const client = new HealthClient(
    server.address,
    mtlsClientCredentials(gateway, { authorize: authorizeId(SERVICE_IDS["payment-service"]) }),
  );
  const error = await callError(client);
  assert.equal(error.code, GrpcStatus.UNAVAILABLE);
  assert.match(error.details, /SVID was rejected: unexpected ID "spiffe:\/\/securepay.dev\/notification-service"/);
  assert.deepEqual(server.denials, [], "the client gave up before sending a call");
});

Deno.test("mtlsClientCredentials() refuses a server whose SVID comes from a foreign CA", async () => {
  await using server = await startServer();
  const foreignCa = await X509Issuer.createRoot(td);
  const issued = await foreignCa.issueSvid(SERVICE_IDS["payment-service"]);
  server.source.set({
    svid: parseX509Svid(issued.chainDer, issued.keyDer),
    bundles: new X509BundleSet([ca.bundle()]),
  });
  await using gateway = await sourceFor(SERVICE_IDS["api-gateway"].toString());
  const client = new HealthClient(
    server.address,
    mtlsClientCredentials(gateway, { authorize: authorizeOneOf(SERVICE_IDS["payment-service"]) }),
  );
  const error = await callError(client);
  assert.equal(error.code, GrpcStatus.UNAVAILABLE, error.message);
});
