/**
 * End to end: boots the dev stack exactly as `deno task dev` does (dev IdP,
 * embedded PGlite, the four programs as child processes, the seed) on free
 * ports and a temporary state directory, and moves money through the public
 * API only. Also runs `deno task token` and `deno task dev` themselves as
 * subprocesses, as a newcomer would.
 */

import assert from "node:assert/strict";
import * as jose from "jose";
import { createTestDatabase, freePort } from "@securepay/shared/testing";
import { Kafka, logLevel } from "kafkajs";
import { credentials, status as grpcStatus } from "@grpc/grpc-js";
import { type AppError, callUnary, silentLogger } from "@securepay/shared";
import { AccountServiceClient } from "@securepay/shared/gen/account";
import { authorizeServer, mtlsClientCredentials, openX509Source } from "@securepay/shared/spiffe";
import { BANNER_CURL_END, BANNER_CURL_START } from "./banner.ts";
import { startDevIdp } from "./idp.ts";
import { DEMO_DEPOSIT_MINOR } from "./seed.ts";
import { freeStackPorts, PORT_VARIABLES, type StackPorts, startStack } from "./stack.ts";

const repoRoot = new URL("../", import.meta.url);

interface Api {
  (method: string, path: string, options?: { token: string; body?: unknown; key?: string }): Promise<
    { status: number; body: Record<string, unknown> }
  >;
}

function apiOf(gatewayUrl: string): Api {
  return async (method, path, options) => {
    const res = await fetch(`${gatewayUrl}${path}`, {
      method,
      headers: {
        ...(options?.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options?.body !== undefined ? { "content-type": "application/json" } : {}),
        ...(options?.key ? { "idempotency-key": options.key } : {}),
      },
      body: options?.body === undefined ? undefined : JSON.stringify(options.body),
    });
    return { status: res.status, body: await res.json() };
  };
}

Deno.test("startStack() in embedded mode moves money through the public API and seeds the demo users once", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-e2e-" });
  const lines: string[] = [];
  const options = {
    stateDir,
    watch: false,
    ports: freeStackPorts(),
    output: (line: string) => lines.push(line),
    readyTimeoutMs: 120_000,
  };
  try {
    let demoIds: string[];
    {
      await using stack = await startStack(options).catch((error) => {
        throw new Error(`${error.message}\n--- stack output ---\n${lines.slice(-80).join("\n")}`);
      });
      assert.ok(stack.embeddedDatabase);

      // Internal ports speak only mutual TLS: a plaintext caller gets no answer,
      // and a valid SVID that DESIGN §3 does not allow is refused.
      const plain = new AccountServiceClient(`localhost:${stack.ports.account}`, credentials.createInsecure());
      try {
        await assert.rejects(callUnary(plain, plain.getAccount, { id: crypto.randomUUID() }, { deadlineMs: 2_000 }));
      } finally {
        plain.close();
      }
      {
        await using notifier = await openX509Source({
          address: `unix://${stateDir}/spiffe/notification-service.sock`,
          logger: silentLogger,
        });
        const intruder = new AccountServiceClient(
          `localhost:${stack.ports.account}`,
          mtlsClientCredentials(notifier, { authorize: authorizeServer("account-service") }),
        );
        try {
          await assert.rejects(
            callUnary(intruder, intruder.getAccount, { id: crypto.randomUUID() }, { deadlineMs: 5_000 }),
            (error: AppError) => (error.cause as { code?: number }).code === grpcStatus.PERMISSION_DENIED,
          );
        } finally {
          intruder.close();
        }
      }

      // The devstack broker the programs were given answers a real Kafka client.
      assert.deepEqual(stack.kafkaBrokers, [`127.0.0.1:${stack.ports.kafka}`]);
      const kafkaAdmin = new Kafka({ brokers: [...stack.kafkaBrokers], logLevel: logLevel.NOTHING }).admin();
      await kafkaAdmin.connect();
      try {
        await kafkaAdmin.createTopics({ topics: [{ topic: "e2e.ping", numPartitions: 2 }], waitForLeaders: true });
        assert.ok((await kafkaAdmin.listTopics()).includes("e2e.ping"));
      } finally {
        await kafkaAdmin.disconnect();
      }
      const api = apiOf(stack.gatewayUrl);
      const admin = await stack.idp.issueToken("e2e-admin", ["ADMIN"]);
      const carol = await stack.idp.issueToken("carol");
      const dave = await stack.idp.issueToken("dave");

      // The seeded demo data exists and is funded once.
      demoIds = [stack.demo.alice.accountId, stack.demo.bob.accountId];
      for (const [owner, id] of [["alice", demoIds[0]], ["bob", demoIds[1]]] as const) {
        const res = await api("GET", `/v1/accounts/${id}`, { token: admin });
        assert.equal(res.status, 200);
        assert.equal(res.body.owner_id, owner);
        assert.equal(res.body.balance, DEMO_DEPOSIT_MINOR);
      }

      // Two users open accounts with their own tokens.
      const carolAccount = await api("POST", "/v1/accounts", { token: carol, body: { currency: "EUR" } });
      assert.equal(carolAccount.status, 201, JSON.stringify(carolAccount.body));
      const daveAccount = await api("POST", "/v1/accounts", { token: dave, body: { currency: "EUR" } });
      assert.equal(daveAccount.status, 201);
      const from = carolAccount.body.id as string;
      const to = daveAccount.body.id as string;

      // Only an ADMIN deposits.
      const denied = await api("POST", `/v1/accounts/${from}/deposits`, {
        token: carol,
        body: { amount: 5_000 },
        key: "e2e-deposit-1",
      });
      assert.equal(denied.status, 403);
      const deposit = await api("POST", `/v1/accounts/${from}/deposits`, {
        token: admin,
        body: { amount: 5_000 },
        key: "e2e-deposit-1",
      });
      assert.equal(deposit.status, 201, JSON.stringify(deposit.body));
      assert.equal((deposit.body.account as Record<string, unknown>).balance, 5_000);

      // Carol pays dave: accepted as PENDING, then applied through Kafka until COMPLETED.
      const payment = await api("POST", "/v1/payments", {
        token: carol,
        body: { from_account: from, to_account: to, amount: 1_250, currency: "EUR", description: "e2e" },
        key: "e2e-payment-1",
      });
      assert.equal(payment.status, 202, JSON.stringify(payment.body));
      assert.equal(payment.body.status, "PENDING");
      let read = await api("GET", `/v1/payments/${payment.body.id}`, { token: carol });
      for (let i = 0; i < 300 && read.body.status === "PENDING"; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        read = await api("GET", `/v1/payments/${payment.body.id}`, { token: carol });
      }
      assert.equal(read.status, 200);
      assert.equal(read.body.status, "COMPLETED", JSON.stringify(read.body));
      assert.equal(read.body.amount, 1_250);
      const asPayee = await api("GET", `/v1/payments/${payment.body.id}`, { token: dave });
      assert.equal(asPayee.status, 200);

      // Balances and ledgers: the money moved once, as one debit and one credit.
      const carolNow = await api("GET", `/v1/accounts/${from}`, { token: carol });
      const daveNow = await api("GET", `/v1/accounts/${to}`, { token: dave });
      assert.equal(carolNow.body.balance, 5_000 - 1_250);
      assert.equal(daveNow.body.balance, 1_250);
      const daveLedger = await api("GET", `/v1/accounts/${to}/ledger`, { token: dave });
      assert.deepEqual(
        (daveLedger.body.data as { kind: string; amount: number }[]).map((e) => [e.kind, e.amount]),
        [["CREDIT", 1_250]],
      );
      const foreign = await api("GET", `/v1/accounts/${from}`, { token: dave });
      assert.equal(foreign.status, 404, "another user's account is not visible");
    }

    // A second start on the same state reuses the demo accounts without funding them again.
    lines.length = 0;
    await using again = await startStack({ ...options, ports: freeStackPorts() });
    assert.deepEqual([again.demo.alice.accountId, again.demo.bob.accountId], demoIds);
    assert.equal(again.demo.alice.balance, DEMO_DEPOSIT_MINOR);
    assert.equal(again.demo.bob.balance, DEMO_DEPOSIT_MINOR);
    assert.ok(lines.some((l) => l.startsWith("gateway      | ")), "program lines carry their padded name");
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("startStack() with DATABASE_URL uses that PostgreSQL and starts no embedded one", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-e2e-" });
  const lines: string[] = [];
  try {
    await using database = await createTestDatabase();
    {
      await using stack = await startStack({
        stateDir,
        watch: false,
        ports: freeStackPorts(),
        databaseUrl: database.url,
        output: (line) => lines.push(line),
        readyTimeoutMs: 120_000,
      }).catch((error) => {
        throw new Error(`${error.message}\n--- stack output ---\n${lines.slice(-80).join("\n")}`);
      });
      assert.equal(stack.embeddedDatabase, false);
      assert.equal(stack.databaseUrl, database.url);
    }
    const [row] = await database.db.sql`select count(*)::int as n from accounts.balances`;
    assert.equal(row!.n, 2, "the two demo accounts live in the given database");
    await assert.rejects(Deno.stat(`${stateDir}/pglite`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("deno task token prints a token that verifies against the dev IdP's JWKS", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-token-" });
  try {
    const port = freePort();
    const env = { DEVSTACK_DIR: stateDir, DEVSTACK_IDP_PORT: String(port), NO_COLOR: "1" };
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "token", "--", "--sub", "alice", "--roles", "ADMIN"],
      cwd: repoRoot,
      env,
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const token = new TextDecoder().decode(out.stdout).trim();
    await using idp = await startDevIdp({ port, stateDir });
    const { payload } = await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(idp.jwksUrl)), {
      issuer: `http://127.0.0.1:${port}`,
      audience: "securepay-api",
      algorithms: ["ES256"],
    });
    assert.equal(payload.sub, "alice");
    assert.deepEqual(payload.roles, ["ADMIN"]);

    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "token", "--", "--roles", "ROOT"],
      cwd: repoRoot,
      env,
    }).output();
    assert.equal(bad.code, 2);
    assert.match(new TextDecoder().decode(bad.stderr), /--sub is required/);
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

/** Pids whose environment carries DEVSTACK_DIR=`stateDir` (Linux; elsewhere none are found). */
async function processesOf(stateDir: string): Promise<number[]> {
  if (Deno.build.os !== "linux") return [];
  const marker = `DEVSTACK_DIR=${stateDir}\0`;
  const pids: number[] = [];
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    const environ = await Deno.readTextFile(`/proc/${entry.name}/environ`).catch(() => "");
    if (environ.includes(marker)) pids.push(Number(entry.name));
  }
  return pids;
}

Deno.test("deno task dev prints a ready banner whose curl works, and Ctrl-C stops everything with exit 0", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "securepay-dev-" });
  const ports = freeStackPorts();
  const env: Record<string, string> = { DEVSTACK_DIR: stateDir, NO_COLOR: "1" };
  for (const [k, name] of Object.entries(PORT_VARIABLES)) env[name] = String(ports[k as keyof StackPorts]);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "devstack/dev.ts"],
    cwd: repoRoot,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const drained = Promise.all([collect(child.stdout), collect(child.stderr)]);
  let status: Deno.CommandStatus | undefined;
  const exited = child.status.then((s) => (status = s));
  try {
    const deadline = Date.now() + 120_000;
    while (!output.includes(BANNER_CURL_END) && status === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(output.includes(BANNER_CURL_END), `no ready banner; output:\n${output.slice(-5000)}`);
    assert.match(output, /alice's token \(valid 1 hour\)/);
    assert.match(output, /deno task token -- --sub alice/);

    const curl = output.slice(
      output.indexOf(BANNER_CURL_START) + BANNER_CURL_START.length,
      output.indexOf(BANNER_CURL_END),
    )
      .trim();
    assert.match(curl, /^curl /);
    const ran = await new Deno.Command("bash", {
      args: ["-c", `${curl} -w '\\n%{http_code}'`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const [body, code] = new TextDecoder().decode(ran.stdout).trim().split("\n");
    assert.equal(code, "202", `${body}\n${new TextDecoder().decode(ran.stderr)}`);
    assert.equal(JSON.parse(body!).status, "PENDING");
    const paymentId = JSON.parse(body!).id;

    // The banner's second command shows the payment COMPLETED once account applied it.
    const followUp = output.slice(output.indexOf("A moment later the payment is COMPLETED")).split("\n")
      .slice(2, 4).join("\n").trim();
    assert.match(followUp, /^curl /);
    let listed: { data: { id: string; status: string }[] } = { data: [] };
    for (let i = 0; i < 150; i++) {
      const read = await new Deno.Command("bash", { args: ["-c", followUp], stdout: "piped" }).output();
      listed = JSON.parse(new TextDecoder().decode(read.stdout));
      if (listed.data[0]?.status === "COMPLETED") break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(listed.data[0]?.id, paymentId);
    assert.equal(listed.data[0]?.status, "COMPLETED");

    // A terminal's Ctrl-C arrives twice (directly and forwarded by `deno task`).
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 30));
    if (status === undefined) child.kill("SIGINT");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
    await drained;
    assert.equal(status!.code, 0, output.slice(-3000));
    assert.match(output, /devstack +\| stopped/);

    // Every program is gone: nothing listens on their ports any more, and no
    // process carries this run's state directory in its environment.
    for (const [name, port] of Object.entries(ports)) {
      await assert.rejects(
        Deno.connect({ hostname: "127.0.0.1", port }).then((c) => c.close()),
        Deno.errors.ConnectionRefused,
        `${name} port ${port} still accepts connections`,
      );
    }
    const leftovers = await processesOf(stateDir);
    assert.deepEqual(leftovers, [], `processes of the dev stack still running: ${leftovers.join(", ")}`);
  } finally {
    if (status === undefined) {
      child.kill("SIGKILL");
      await exited;
    }
    await drained;
    // Never leave this run's programs behind, even when an assertion failed.
    for (const pid of await processesOf(stateDir)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await Deno.remove(stateDir, { recursive: true });
  }
});
