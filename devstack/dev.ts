/**
 * `deno task dev`: the whole platform on this machine, with one command.
 *
 * Starts the dev IdP, PostgreSQL (embedded PGlite in `.devstack/pglite/`
 * unless DATABASE_URL is set), then account, payment, gateway and
 * notification with `deno run --watch` (a code change restarts the program),
 * seeds the demo users and prints a ready banner. Ctrl-C (or SIGTERM) stops
 * everything and exits 0.
 *
 * Environment: DATABASE_URL, LOG_LEVEL, OTEL_* (passed to every program),
 * DEVSTACK_DIR (state, default `.devstack/`), DEVSTACK_WATCH (default true)
 * and one DEVSTACK_*_PORT per port (see PORT_VARIABLES in stack.ts).
 */

import { ConfigError, envReader } from "@securepay/shared";
import { readyBanner } from "./banner.ts";
import { parseStackEnv, startStack } from "./stack.ts";

/**
 * Resolves on the first SIGINT or SIGTERM and keeps listening: a terminal's
 * Ctrl-C reaches this process twice (directly, and forwarded by `deno task`),
 * and a second signal without a listener would kill it before it stopped the
 * programs and closed PGlite. A third signal forces the exit.
 */
function stopSignals(onFirst: () => void): Promise<void> {
  const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
  return new Promise((resolve) => {
    let count = 0;
    for (const signal of signals) {
      Deno.addSignalListener(signal, () => {
        count++;
        if (count === 1) {
          onFirst();
          resolve();
        } else if (count >= 3) {
          console.error("devstack | forced exit; programs may still be running");
          Deno.exit(130);
        }
      });
    }
  });
}

export async function main(env: Record<string, string | undefined>): Promise<number> {
  let options;
  let watch;
  try {
    options = parseStackEnv(env);
    const r = envReader(env);
    watch = r.bool("DEVSTACK_WATCH", true);
    r.done();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }

  const color = Deno.stdout.isTerminal() && env.NO_COLOR === undefined;
  const abort = new AbortController();
  const signalled = stopSignals(() => abort.abort());
  const started = Date.now();
  let stack;
  try {
    stack = await startStack({ ...options, watch, color, signal: abort.signal });
  } catch (error) {
    if (abort.signal.aborted) {
      console.log("devstack | stopped during start");
      return 0;
    }
    console.error(`\ndevstack | ${(error as Error).message}`);
    return 1;
  }
  try {
    const aliceToken = await stack.idp.issueToken("alice", ["USER"], 3_600);
    console.log(readyBanner({
      gatewayUrl: stack.gatewayUrl,
      issuer: stack.idp.issuer,
      databaseUrl: stack.databaseUrl,
      embeddedDatabase: stack.embeddedDatabase,
      kafkaBrokers: stack.kafkaBrokers,
      aliceToken,
      demo: stack.demo,
      idempotencyKey: `demo-${crypto.randomUUID()}`,
    }));
    console.log(`devstack | ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const outcome = await Promise.race([signalled.then(() => undefined), stack.crashed]);
    if (outcome) {
      console.error(`devstack | ${outcome.name} crashed (exit code ${outcome.code}); stopping everything`);
      return 1;
    }
    return 0;
  } finally {
    await stack.close();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.env.toObject()));
