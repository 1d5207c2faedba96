/**
 * Proves that a kill -9 loses, doubles and creates nothing: while a load
 * of payments, repeated keys and refunds runs through the public API, one
 * part dies by SIGKILL (account, payment, notification, or the Kafka
 * broker running as its own process) and is started again on the same
 * ports (the broker on the same data folder). The client retries answers
 * that do not say what happened with the same Idempotency-Key, as Stripe's
 * rules ask. Once quiet: every payment answered 202 is final, no payment
 * exists that no client was told of, each is booked exactly once (ledger
 * pairs), each event is notified once per recipient, and all invariants of
 * DESIGN §8 hold.
 */

import assert from "node:assert/strict";
import { DEMO_DEPOSIT_MINOR } from "../../devstack/seed.ts";
import { compareWithDatabase, createWorld, metricTotal, type Op, runLoad, seededRandom, waitQuiet } from "./_load.ts";
import { startSystem } from "./_system.ts";
import { checkInvariants, formatViolations } from "./invariants.ts";

const OPERATIONS = Number(Deno.env.get("SYSTEM_CRASH_OPERATIONS") ?? 400);
const ACCOUNTS = 16;
const CONCURRENCY = 16;
/** How long the victim stays dead while the load goes on. */
const DOWN_MS = 2_000;

/** 85% payments, 10% repeated keys (same body or changed), 5% refunds; all EUR, well funded. */
function crashOps(seed: number): Op[] {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const ops: Op[] = [];
  const pays: number[] = [];
  while (ops.length < OPERATIONS) {
    const dice = pick(100);
    if (dice < 10 && pays.length > 0) ops.push({ kind: "repeat", of: pays[pick(pays.length)]!, sameBody: dice < 7 });
    else if (dice < 15 && pays.length > 0) ops.push({ kind: "refund", of: pays[pick(pays.length)]! });
    else {
      const from = pick(ACCOUNTS);
      pays.push(ops.length);
      ops.push({ kind: "pay", from, to: (from + 1 + pick(ACCOUNTS - 1)) % ACCOUNTS, amount: 1 + pick(20_000) });
    }
  }
  return ops;
}

type Victim = "account" | "payment" | "notification" | "kafka";

async function crashRun(victim: Victim, seed: number): Promise<void> {
  await using system = await startSystem({
    brokerProcess: true,
    // A dead member's partitions move to the new one after this long.
    programEnv: { KAFKA_SESSION_TIMEOUT_MS: "6000" },
  });
  const world = await createWorld(
    system,
    Array.from({ length: ACCOUNTS }, (_, i) => ({ owner: i % 5, currency: "EUR", depositMinor: 200_000 })),
  );
  const ops = crashOps(seed);
  const timeline: string[] = [];
  const started = performance.now();
  const at = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;

  const crash = async () => {
    timeline.push(`${at()} kill -9 ${victim}`);
    if (victim === "kafka") await system.broker!.kill();
    else await system.kill(victim);
    await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
    timeline.push(`${at()} restart ${victim}`);
    if (victim === "kafka") await system.broker!.start();
    else await system.restart(victim);
    timeline.push(`${at()} ${victim} ready`);
  };
  let chaos: Promise<void> | undefined;
  const load = await runLoad(system, world, ops, {
    concurrency: CONCURRENCY,
    retryAmbiguousForMs: 90_000,
    onProgress: (done) => {
      if (done === Math.floor(ops.length * 0.3)) chaos = crash();
    },
  });
  timeline.push(`${at()} load done`);
  await chaos;
  let quietMs: number;
  try {
    quietMs = await waitQuiet(system.sql, 180_000);
  } catch (error) {
    const violations = await checkInvariants(system.sql, { perCheckMax: 5 });
    throw new Error(
      `${(error as Error).message}\n${formatViolations(violations)}\ntimeline: ${timeline.join("; ")}\n` +
        `--- last program output ---\n${system.output(80)}`,
    );
  }
  timeline.push(`${at()} quiet`);

  const deposits = { EUR: 2 * DEMO_DEPOSIT_MINOR + world.deposits.EUR! };
  const violations = await checkInvariants(system.sql, { deposits });
  const lost = await compareWithDatabase(system.sql, world, load);
  const [counts] = await system.sql<{ final: number; unknown: number }[]>`
    select (select count(*)::int from payments.transactions where status <> 'PENDING') as final,
           (select count(*)::int from notifications.deliveries where status = 'unknown') as unknown`;
  const retried = load.outcomes.filter((o) => o.attempts > 1).length;
  const duplicates = await metricTotal(system.stack.ports.accountAdmin, "securepay_account_events_total");
  console.log(
    `${victim}: ${ops.length} operations, ${load.acceptedIds.size} payments accepted, ${counts!.final} final; ` +
      `${retried} requests retried by the client; ${counts!.unknown} notices of unknown fate; ` +
      `quiet ${quietMs} ms after the load; account events handled since its last start ${duplicates}; ` +
      `timeline: ${timeline.join("; ")}`,
  );
  const problems = [...load.problems, ...lost];
  assert.deepEqual(problems, [], `${problems.length} problems:\n${problems.slice(0, 40).join("\n")}`);
  assert.equal(violations.length, 0, `invariants violated:\n${formatViolations(violations)}`);
}

for (const [i, victim] of (["account", "payment", "notification", "kafka"] as const).entries()) {
  Deno.test({
    name: `kill -9 of ${victim} in the middle of a run loses, doubles and creates nothing`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: () => crashRun(victim, 7_000 + i),
  });
}
