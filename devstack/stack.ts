/**
 * The whole local stack, as `deno task dev` runs it and as the end-to-end
 * test boots it: the dev IdP, PostgreSQL (embedded PGlite unless
 * DATABASE_URL is given), Kafka (the devstack broker unless KAFKA_BROKERS
 * is given), the SPIFFE Workload API (one socket per workload), then account, payment, gateway and notification
 * as child processes, each awaited on its admin /readyz, then the demo seed.
 */

import { envReader, LOG_LEVELS, type LogLevel, ShutdownStack } from "@securepay/shared";
import { defaultStateDir } from "./_paths.ts";
import { DEV_IDP_PORT } from "./dev_token.ts";
import { startEmbeddedPostgres } from "./embedded_postgres.ts";
import { type DevIdp, startDevIdp } from "./idp.ts";
import { startKafkaBroker } from "./kafka/mod.ts";
import { startWorkloadApi } from "./spiffe/mod.ts";
import { type Program, spawnSupervised } from "./program.ts";
import { type DemoUser, SEED_ADMIN_SUBJECT, seedDemoData, type SeededAccount } from "./seed.ts";

export interface StackPorts {
  idp: number;
  postgres: number;
  kafka: number;
  gateway: number;
  gatewayAdmin: number;
  payment: number;
  paymentAdmin: number;
  account: number;
  accountAdmin: number;
  notificationAdmin: number;
}

/** DESIGN §3 and §11; the embedded PostgreSQL takes 5433 so that a local server on 5432 can stay. */
export const DEFAULT_PORTS: Readonly<StackPorts> = {
  idp: DEV_IDP_PORT,
  postgres: 5433,
  kafka: 9092,
  gateway: 8080,
  gatewayAdmin: 9180,
  payment: 8081,
  paymentAdmin: 9181,
  account: 50051,
  accountAdmin: 9182,
  notificationAdmin: 8083,
};

/**
 * A free loopback port for every part, for tests that run several stacks at
 * once. All listeners stay open until every port is chosen, so no two parts
 * are handed the same one.
 */
export function freeStackPorts(): StackPorts {
  const listeners = Object.keys(DEFAULT_PORTS).map((k) =>
    [k, Deno.listen({ hostname: "127.0.0.1", port: 0 })] as const
  );
  try {
    return Object.fromEntries(listeners.map(([k, l]) => [k, (l.addr as Deno.NetAddr).port])) as unknown as StackPorts;
  } finally {
    for (const [, listener] of listeners) listener.close();
  }
}

/** The env variable overriding each port in `deno task dev`. */
export const PORT_VARIABLES: Readonly<Record<keyof StackPorts, string>> = {
  idp: "DEVSTACK_IDP_PORT",
  postgres: "DEVSTACK_PG_PORT",
  kafka: "DEVSTACK_KAFKA_PORT",
  gateway: "DEVSTACK_GATEWAY_PORT",
  gatewayAdmin: "DEVSTACK_GATEWAY_ADMIN_PORT",
  payment: "DEVSTACK_PAYMENT_PORT",
  paymentAdmin: "DEVSTACK_PAYMENT_ADMIN_PORT",
  account: "DEVSTACK_ACCOUNT_PORT",
  accountAdmin: "DEVSTACK_ACCOUNT_ADMIN_PORT",
  notificationAdmin: "DEVSTACK_NOTIFICATION_ADMIN_PORT",
};

export interface StackOptions {
  /** State directory (`.devstack/`): the IdP key and the PGlite data. */
  stateDir: string;
  /** Run the programs with `deno run --watch` so code changes restart them. */
  watch: boolean;
  ports?: Partial<StackPorts>;
  /** A real PostgreSQL; undefined runs the embedded one. */
  databaseUrl?: string;
  /** Real Kafka bootstrap brokers; undefined runs the devstack broker. */
  kafkaBrokers?: readonly string[];
  logLevel?: LogLevel;
  /** Extra environment for the programs, e.g. the caller's OTEL_* variables. */
  programEnv?: Record<string, string>;
  /** Receives every prefixed program line and the stack's own messages. */
  output?: (line: string) => void;
  /** Colour the program prefixes (for a terminal). */
  color?: boolean;
  /** Lifetime of the SVIDs the Workload API issues (default one hour, as SPIRE). */
  svidTtlSeconds?: number;
  /** Bound on each program's readiness; the first run may download packages. */
  readyTimeoutMs?: number;
  /** Bound on each program's shutdown before SIGKILL. */
  stopGraceMs?: number;
  /** Aborting stops a start in progress (Ctrl-C during start). */
  signal?: AbortSignal;
}

export interface Stack extends AsyncDisposable {
  readonly ports: Readonly<StackPorts>;
  /** http://127.0.0.1:<gateway port> */
  readonly gatewayUrl: string;
  readonly databaseUrl: string;
  readonly embeddedDatabase: boolean;
  /** Bootstrap brokers the programs were given (KAFKA_BROKERS). */
  readonly kafkaBrokers: readonly string[];
  readonly idp: DevIdp;
  readonly programs: readonly Program[];
  readonly demo: Readonly<Record<DemoUser, SeededAccount>>;
  /** Resolves when a program exits while the stack is not stopping (never under --watch). */
  readonly crashed: Promise<{ name: string; code: number }>;
  /**
   * Starts program `name` again with the same environment and ports, once it
   * has exited (a test killed it); a program still running is killed first.
   * Replaces its entry in `programs` and resolves when it is ready.
   */
  restart(name: string): Promise<Program>;
  close(): Promise<void>;
}

export interface ProgramSpec {
  readonly name: string;
  /** Its workload name: the path of its SPIFFE ID and the name of its Workload API socket. */
  readonly workload: string;
  readonly dir: string;
  readonly adminPort: (p: StackPorts) => number;
  readonly env: (p: StackPorts) => Record<string, string>;
}

/** Start order matters: payment's readiness depends on account, the gateway's on both. */
export const PROGRAMS: readonly ProgramSpec[] = [
  {
    name: "account",
    workload: "account-service",
    dir: "account",
    adminPort: (p) => p.accountAdmin,
    env: (p) => ({ GRPC_PORT: String(p.account), ADMIN_PORT: String(p.accountAdmin) }),
  },
  {
    name: "payment",
    workload: "payment-service",
    dir: "payment",
    adminPort: (p) => p.paymentAdmin,
    env: (p) => ({ GRPC_PORT: String(p.payment), ADMIN_PORT: String(p.paymentAdmin) }),
  },
  {
    name: "gateway",
    workload: "api-gateway",
    dir: "gateway",
    adminPort: (p) => p.gatewayAdmin,
    env: (p) => ({ PORT: String(p.gateway), ADMIN_PORT: String(p.gatewayAdmin) }),
  },
  {
    name: "notification",
    workload: "notification-service",
    dir: "notification",
    adminPort: (p) => p.notificationAdmin,
    env: (p) => ({ ADMIN_PORT: String(p.notificationAdmin) }),
  },
];

const COLORS = [36, 35, 33, 32, 34];
const NAME_WIDTH = Math.max(...PROGRAMS.map((p) => p.name.length), "devstack".length);

/** Variables `deno task dev` hands to every program as they are, when set. */
const PASSED_THROUGH = ["REDIS_URL", "SMTP_URL", "SMTP_FROM", "NOTIFY_EMAIL_TEMPLATE", "SMTP_TIMEOUT_MS"];

/** Options for `deno task dev` from its environment (all problems at once, as ConfigError). */
export function parseStackEnv(env: Record<string, string | undefined>): Omit<StackOptions, "watch"> {
  const r = envReader(env);
  const ports = Object.fromEntries(
    (Object.keys(DEFAULT_PORTS) as (keyof StackPorts)[]).map((k) => [k, r.port(PORT_VARIABLES[k], DEFAULT_PORTS[k])]),
  ) as unknown as StackPorts;
  const databaseUrl = r.optionalUrl("DATABASE_URL", { protocols: ["postgres", "postgresql"] });
  const kafkaBrokers = r.optional("KAFKA_BROKERS") === undefined ? undefined : r.list("KAFKA_BROKERS", []);
  const logLevel = r.oneOf("LOG_LEVEL", LOG_LEVELS, "info");
  const stateDir = r.optional("DEVSTACK_DIR") ?? defaultStateDir();
  r.done();
  const programEnv = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] =>
      e[1] !== undefined && (e[0].startsWith("OTEL_") || PASSED_THROUGH.includes(e[0]))
    ),
  );
  return { stateDir, ports, databaseUrl, kafkaBrokers, logLevel, programEnv };
}

/** Boots everything; on any failure stops what already started and rethrows. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const ports: StackPorts = { ...DEFAULT_PORTS, ...options.ports };
  const write = options.output ?? ((line: string) => console.log(line));
  const color = options.color ?? false;
  const say = (message: string) =>
    write(
      color
        ? `\x1b[1m${"devstack".padEnd(NAME_WIDTH)} |\x1b[0m ${message}`
        : `${"devstack".padEnd(NAME_WIDTH)} | ${message}`,
    );
  const readyTimeoutMs = options.readyTimeoutMs ?? 90_000;
  const stopGraceMs = options.stopGraceMs ?? 8_000;
  const stateDir = options.stateDir.replace(/\/$/, "");
  await Deno.mkdir(stateDir, { recursive: true });

  const resources = new ShutdownStack({
    timeoutMs: 4 * stopGraceMs + 10_000,
    onError: (name, error) => say(`could not stop ${name}: ${(error as Error).message}`),
  });
  const programs: Program[] = [];
  const programOptions: Parameters<typeof spawnSupervised>[0][] = [];
  let stopping = false;
  try {
    const spiffe = resources.use(
      "Workload API",
      await startWorkloadApi({ stateDir, ttlSeconds: options.svidTtlSeconds }),
    );
    say(`SPIFFE Workload API: one socket per workload in ${stateDir}/spiffe/, trust bundle ${spiffe.bundlePath}`);
    const idp = resources.use("dev IdP", await startDevIdp({ port: ports.idp, stateDir }));
    ports.idp = idp.port;
    say(`dev IdP on ${idp.issuer} (JWKS ${idp.jwksUrl})`);

    let databaseUrl = options.databaseUrl;
    if (databaseUrl === undefined) {
      const pg = resources.use(
        "embedded PostgreSQL",
        await startEmbeddedPostgres({ dataDir: `${stateDir}/pglite`, port: ports.postgres, onEvent: say }),
      );
      ports.postgres = pg.port;
      databaseUrl = pg.url;
      say(`embedded PostgreSQL (PGlite, data in ${stateDir}/pglite) on ${pg.url}`);
    } else {
      say("using PostgreSQL from DATABASE_URL");
    }
    options.signal?.throwIfAborted();

    let kafkaBrokers = options.kafkaBrokers;
    if (kafkaBrokers === undefined) {
      const broker = resources.use(
        "Kafka broker",
        await startKafkaBroker({ port: ports.kafka, dataDir: `${stateDir}/kafka`, defaultPartitions: 3 }),
      );
      ports.kafka = broker.port;
      kafkaBrokers = [broker.address];
      say(`devstack Kafka broker on ${broker.address} (data in ${stateDir}/kafka)`);
    } else {
      say(`using Kafka from KAFKA_BROKERS (${kafkaBrokers.join(",")})`);
    }
    options.signal?.throwIfAborted();

    const common: Record<string, string> = {
      ...options.programEnv,
      DATABASE_URL: databaseUrl,
      KAFKA_BROKERS: kafkaBrokers.join(","),
      LOG_LEVEL: options.logLevel ?? "info",
      AUTH_JWKS_URL: idp.jwksUrl,
      AUTH_ISSUER: idp.issuer,
      AUTH_AUDIENCE: idp.audience,
      ACCOUNT_SERVICE_ADDR: `localhost:${ports.account}`,
      PAYMENT_SERVICE_ADDR: `localhost:${ports.payment}`,
      HOST: "127.0.0.1",
      GRPC_HOST: "127.0.0.1",
      ADMIN_HOST: "127.0.0.1",
      SHUTDOWN_TIMEOUT_MS: String(Math.max(1_000, stopGraceMs - 2_000)),
      ...(color ? {} : { NO_COLOR: "1" }),
    };
    if (options.databaseUrl === undefined) {
      // The embedded server is one PostgreSQL session shared by every connection.
      common.DATABASE_PREPARED_STATEMENTS = "false";
      // Three, because an outbox relay keeps one connection for its advisory lock.
      common.DATABASE_POOL_MAX = "3";
    }

    for (const [i, spec] of PROGRAMS.entries()) {
      options.signal?.throwIfAborted();
      programOptions.push({
        name: spec.name,
        main: `${spec.dir}/main.ts`,
        watch: options.watch ? [`${spec.dir}/`, "shared/"] : undefined,
        env: { ...common, ...spec.env(ports), SPIFFE_ENDPOINT_SOCKET: spiffe.endpoint(spec.workload) },
        adminPort: spec.adminPort(ports),
        output: write,
        color: color ? COLORS[i % COLORS.length] : undefined,
        nameWidth: NAME_WIDTH,
      });
      const program = spawnSupervised(programOptions[i]!);
      programs.push(program);
      // programs[i], not program: restart() may have replaced it.
      resources.defer(spec.name, () => programs[i]!.stop(stopGraceMs));
      await program.waitReady(readyTimeoutMs, options.signal);
      say(`${spec.name} is ready`);
    }

    const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
    const demo = await seedDemoData({
      gatewayUrl,
      adminToken: await idp.issueToken(SEED_ADMIN_SUBJECT, ["ADMIN"], 300),
    });
    say(`seeded demo accounts: alice ${demo.alice.accountId}, bob ${demo.bob.accountId}`);

    const crashed = new Promise<{ name: string; code: number }>((resolve) => {
      for (const program of programs) {
        program.exited.then((code) => {
          if (stopping) return;
          say(`${program.name} EXITED with code ${code}${options.watch ? "" : "; it will not be restarted"}`);
          resolve({ name: program.name, code });
        });
      }
    });
    const restart = async (name: string) => {
      const i = programs.findIndex((p) => p.name === name);
      if (i < 0) throw new TypeError(`Cannot restart ${name} as the stack runs no such program`);
      if (stopping) throw new Error(`Cannot restart ${name} as the stack is stopping`);
      await programs[i]!.stop(0);
      const program = spawnSupervised(programOptions[i]!);
      programs[i] = program;
      say(`${name} restarted`);
      await program.waitReady(readyTimeoutMs, options.signal);
      say(`${name} is ready`);
      return program;
    };
    let closed: Promise<void> | undefined;
    const close = () => {
      closed ??= (async () => {
        stopping = true;
        say("stopping…");
        await resources[Symbol.asyncDispose]();
        say("stopped");
      })();
      return closed;
    };
    return {
      ports,
      gatewayUrl,
      databaseUrl,
      embeddedDatabase: options.databaseUrl === undefined,
      kafkaBrokers,
      idp,
      programs,
      demo,
      crashed,
      restart,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    stopping = true;
    await resources[Symbol.asyncDispose]();
    throw error;
  }
}
