import assert from "node:assert/strict";
import { ConfigError } from "@securepay/shared";
import { parseGatewayConfig } from "./config.ts";

const required = { AUTH_JWKS_URL: "http://127.0.0.1:8089/.well-known/jwks.json", AUTH_ISSUER: "http://127.0.0.1:8089" };

Deno.test("parseGatewayConfig() applies the documented defaults", () => {
  assert.deepEqual(parseGatewayConfig(required), {
    host: "0.0.0.0",
    port: 8080,
    adminHost: "0.0.0.0",
    adminPort: 9180,
    logLevel: "info",
    auth: {
      jwksUrl: required.AUTH_JWKS_URL,
      issuer: required.AUTH_ISSUER,
      audience: "securepay-api",
      clockToleranceSeconds: 5,
      jwksTimeoutMs: 3_000,
    },
    paymentServiceAddr: "localhost:8081",
    accountServiceAddr: "localhost:50051",
    grpcDeadlineMs: 5_000,
    shutdownTimeoutMs: 10_000,
  });
});

Deno.test("parseGatewayConfig() reads every variable", () => {
  const config = parseGatewayConfig({
    ...required,
    HOST: "127.0.0.1",
    PORT: "18080",
    ADMIN_HOST: "127.0.0.1",
    ADMIN_PORT: "19180",
    LOG_LEVEL: "debug",
    AUTH_AUDIENCE: "other",
    AUTH_CLOCK_TOLERANCE_SECONDS: "0",
    AUTH_JWKS_TIMEOUT_MS: "500",
    PAYMENT_SERVICE_ADDR: "payment:8081",
    ACCOUNT_SERVICE_ADDR: "account:50051",
    GRPC_DEADLINE_MS: "250",
    SHUTDOWN_TIMEOUT_MS: "2000",
  });
  assert.equal(config.port, 18080);
  assert.equal(config.adminPort, 19180);
  assert.equal(config.logLevel, "debug");
  assert.deepEqual(config.auth, {
    jwksUrl: required.AUTH_JWKS_URL,
    issuer: required.AUTH_ISSUER,
    audience: "other",
    clockToleranceSeconds: 0,
    jwksTimeoutMs: 500,
  });
  assert.equal(config.paymentServiceAddr, "payment:8081");
  assert.equal(config.accountServiceAddr, "account:50051");
  assert.equal(config.grpcDeadlineMs, 250);
  assert.equal(config.shutdownTimeoutMs, 2_000);
});

Deno.test("parseGatewayConfig() reports every bad variable at once", () => {
  assert.throws(
    () =>
      parseGatewayConfig({
        AUTH_JWKS_URL: "ftp://idp/jwks",
        PORT: "http",
        LOG_LEVEL: "loud",
        AUTH_CLOCK_TOLERANCE_SECONDS: "3600",
        ACCOUNT_SERVICE_ADDR: "no-port",
        GRPC_DEADLINE_MS: "-1",
      }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      const names = error.problems.map((p) => p.split(" ")[0]);
      assert.deepEqual(names.sort(), [
        "ACCOUNT_SERVICE_ADDR",
        "AUTH_CLOCK_TOLERANCE_SECONDS",
        "AUTH_ISSUER",
        "AUTH_JWKS_URL",
        "GRPC_DEADLINE_MS",
        "LOG_LEVEL",
        "PORT",
      ]);
      return true;
    },
  );
});

Deno.test("parseGatewayConfig() takes the JWKS over https, or plain http only from the loopback", () => {
  const base = { AUTH_ISSUER: "https://idp.example" };
  assert.equal(
    parseGatewayConfig({ ...base, AUTH_JWKS_URL: "https://idp.example/jwks" }).auth.jwksUrl,
    "https://idp.example/jwks",
  );
  assert.equal(
    parseGatewayConfig({ ...base, AUTH_JWKS_URL: "http://127.0.0.1:8089/jwks" }).auth.jwksUrl,
    "http://127.0.0.1:8089/jwks",
  );
  assert.throws(
    () => parseGatewayConfig({ ...base, AUTH_JWKS_URL: "http://idp.example/jwks" }),
    /AUTH_JWKS_URL must use https/,
  );
});
