/**
 * The whole platform for a system test: the dev stack's four programs as
 * child processes on free ports, over a fresh database on the local
 * PostgreSQL, the machine's Redis (isolated by a per-run key prefix and
 * per-run principals) and the devstack broker, either inside the stack or
 * as a separate process that a test can kill -9 and restart on the same
 * port and data folder.
 */

import { Redis } from "ioredis";
import type { Role, Sql } from "@securepay/shared";
import { createTestDatabase, freePort, type TestDatabase } from "@securepay/shared/testing";
import type { Stack } from "../../devstack/stack.ts";
import { freeStackPorts, startStack } from "../../devstack/stack.ts";

export const REDIS_URL = Deno.env.get("REDIS_URL") ?? "redis://127.0.0.1:6379";
const REPO_ROOT = new URL("../../", import.meta.url);
const OUTPUT_LINES_MAX = 3_000;

export interface BrokerProcess extends AsyncDisposable {
  readonly address: string;
  readonly dataDir: string;
  /** SIGKILL, then waits for the process to be gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port and data folder; resolves once it listens. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** The devstack broker as its own process (`devstack/kafka/main.ts`), so that it can die like a real one. */
export async function startBrokerProcess(output: (line: string) => void): Promise<BrokerProcess> {
  const port = freePort();
  const dataDir = await Deno.makeTempDir({ prefix: "securepay-system-kafka-" });
  let child: Deno.ChildProcess | undefined;
  let drained: Promise<unknown> = Promise.resolve();

  const start = async () => {
    const proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-all",
        "devstack/kafka/main.ts",
        "--port",
        String(port),
        "--data-dir",
        dataDir,
        "--partitions",
        "3",
      ],
      cwd: REPO_ROOT,
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    child = proc;
    let listening: () => void = () => {};
    const ready = new Promise<void>((resolve) => listening = resolve);
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      let rest = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        const lines = (rest + chunk).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          output(`kafka | ${line}`);
          if (line.includes("listening on")) listening();
        }
      }
    };
    drained = Promise.all([pump(proc.stdout), pump(proc.stderr)]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const failed = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("Cannot start the Kafka broker as it did not listen within 60 s")),
        60_000,
      );
      proc.status.then((s) => reject(new Error(`Cannot start the Kafka broker as it exited with code ${s.code}`)));
    });
    failed.catch(() => {});
    try {
      await Promise.race([ready, failed]);
    } finally {
      clearTimeout(timer);
    }
  };
  const kill = async () => {
    if (child === undefined) return;
    try {
      child.kill("SIGKILL");
    } catch {
      // Already gone.
    }
    await child.status;
    await drained;
    child = undefined;
  };
  const close = async () => {
    if (child !== undefined) {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      const timer = setTimeout(() => child?.kill("SIGKILL"), 10_000);
      await child.status;
      clearTimeout(timer);
      await drained;
      child = undefined;
    }
    await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  await start();
  return { address: `127.0.0.1:${port}`, dataDir, kill, start, close, [Symbol.asyncDispose]: close };
}

export interface SystemOptions {
  /** Run the broker as a separate process (for kill -9); default: inside the stack. */
  brokerProcess?: boolean;
  /** Extra environment for every program. */
  programEnv?: Record<string, string>;
}

export interface System extends AsyncDisposable {
  readonly stack: Stack;
  readonly sql: Sql;
  readonly database: TestDatabase;
  readonly broker: BrokerProcess | undefined;
  /** Random per run: part of every principal and Redis key this run creates. */
  readonly runId: string;
  readonly gatewayUrl: string;
  token(subject: string, roles?: readonly Role[]): Promise<string>;
  /** The last lines the programs and the stack printed, for failure messages. */
  output(lines?: number): string;
  /** kill -9 of one program (account, payment, gateway, notification); resolves when it is gone. */
  kill(name: string): Promise<void>;
  /** Starts a killed program again on its ports; resolves when it is ready. */
  restart(name: string): Promise<void>;
}

export async function startSystem(options: SystemOptions = {}): Promise<System> {
  const runId = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const lines: string[] = [];
  const output = (line: string) => {
    lines.push(line);
    if (lines.length > OUTPUT_LINES_MAX) lines.splice(0, lines.length - OUTPUT_LINES_MAX);
  };
  const accountCachePrefix = `securepay-test:${runId}:balance:`;
  const cleanups: (() => PromiseLike<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) {
      try {
        await fn();
      } catch (error) {
        console.error(`system test cleanup: ${(error as Error).message}`);
      }
    }
  };
  try {
    const database = await createTestDatabase();
    cleanups.push(() => database[Symbol.asyncDispose]());
    cleanups.push(() => deleteRedisKeys([`${accountCachePrefix}*`, `securepay:idem:*${runId}*`]));
    const stateDir = await Deno.makeTempDir({ prefix: "securepay-system-" });
    cleanups.push(() => Deno.remove(stateDir, { recursive: true }));
    let broker: BrokerProcess | undefined;
    if (options.brokerProcess) {
      broker = await startBrokerProcess(output);
      cleanups.push(() => broker!.close());
    }
    const stack = await startStack({
      stateDir,
      watch: false,
      ports: freeStackPorts(),
      databaseUrl: database.url,
      kafkaBrokers: broker === undefined ? undefined : [broker.address],
      logLevel: (Deno.env.get("SYSTEM_TEST_LOG_LEVEL") ?? "warn") as "warn",
      programEnv: {
        REDIS_URL,
        REDIS_KEY_PREFIX: accountCachePrefix,
        ...options.programEnv,
      },
      output,
      readyTimeoutMs: 120_000,
      stopGraceMs: 8_000,
    }).catch((error) => {
      throw new Error(`${(error as Error).message}\n--- stack output ---\n${lines.slice(-80).join("\n")}`);
    });
    cleanups.push(() => stack.close());
    const close = cleanup;
    return {
      stack,
      sql: database.db.sql,
      database,
      broker,
      runId,
      gatewayUrl: stack.gatewayUrl,
      token: (subject, roles = ["USER"]) => stack.idp.issueToken(subject, roles, 3_600),
      output: (n = 120) => lines.slice(-n).join("\n"),
      kill: async (name) => {
        const program = stack.programs.find((p) => p.name === name);
        if (program === undefined) throw new TypeError(`Cannot kill ${name} as the stack runs no such program`);
        try {
          Deno.kill(program.pid, "SIGKILL");
        } catch {
          // Already gone.
        }
        await program.exited;
      },
      restart: async (name) => {
        await stack.restart(name);
      },
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

/** Removes this run's keys from the shared Redis (never FLUSHALL: other runs use it too). */
async function deleteRedisKeys(patterns: readonly string[]): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    for (const pattern of patterns) {
      let cursor = "0";
      let rounds = 0;
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1_000);
        if (keys.length > 0) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0" && ++rounds < 100_000);
    }
  } finally {
    redis.disconnect();
  }
}

export interface Reply {
  /** 0 when no HTTP answer arrived (connection refused, reset, time-out). */
  readonly status: number;
  readonly text: string;
  // deno-lint-ignore no-explicit-any
  readonly body: any;
  readonly replayed: boolean;
}

/** One call to the public API; never throws for a network failure (status 0 instead). */
export async function call(
  baseUrl: string,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; key?: string; timeoutMs?: number } = {},
): Promise<Reply> {
  try {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: {
        ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        ...(options.body !== undefined ? { "content-type": "application/json" } : {}),
        ...(options.key ? { "idempotency-key": options.key } : {}),
      },
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    let body: unknown = undefined;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON; the text says what it was.
    }
    return { status: res.status, text, body, replayed: res.headers.get("idempotent-replayed") === "true" };
  } catch (error) {
    return { status: 0, text: (error as Error).message, body: undefined, replayed: false };
  }
}

/** Polls until `check` answers true, or throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  { timeoutMs = 60_000, intervalMs = 250 } = {},
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`Cannot finish waiting as ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  return Date.now() - started;
}
