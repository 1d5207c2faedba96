/**
 * End-to-end payment benchmark (`deno task bench`): the four programs as
 * child processes on the local PostgreSQL, the machine's Redis and the
 * devstack broker, driven through the gateway's public API.
 *
 * 1. Steady load: payments at a fixed rate (BENCH_RATE, default 200/s) for
 *    BENCH_SECONDS (20), open loop (each request starts on its schedule,
 *    whatever the previous ones do). Reports the time from acceptance to
 *    COMPLETED (p50, p99, max) from the database's own clock: created_at is
 *    taken in the transaction that answers 202, updated_at in the one that
 *    moves the payment to COMPLETED.
 * 2. The optimistic-lock conflict rate during that phase, from account's
 *    /metrics (conflicts per payment applied).
 * 3. Maximum sustained rate: BENCH_MAX_CONCURRENCY (64) clients in a
 *    closed loop for BENCH_MAX_SECONDS (15); payments per second from the
 *    first request to the last completion.
 * 4. The database-alone baseline of ../shared/bench/ (pgbench, 8 clients,
 *    BENCH_PGBENCH_SECONDS (30) s) on a scratch database of the same
 *    server, after the stack has stopped, and the ratio of (3) to it.
 *
 * Prints figures; asserts nothing about speed.
 */

import { createTestDatabase } from "@securepay/shared/testing";
import { backlog, createWorld, metricTotal, waitQuiet } from "./_load.ts";
import { call, startSystem, type System } from "./_system.ts";

const RATE = Number(Deno.env.get("BENCH_RATE") ?? 200);
const STEADY_SECONDS = Number(Deno.env.get("BENCH_SECONDS") ?? 20);
const MAX_SECONDS = Number(Deno.env.get("BENCH_MAX_SECONDS") ?? 15);
const MAX_CONCURRENCY = Number(Deno.env.get("BENCH_MAX_CONCURRENCY") ?? 64);
const PGBENCH_SECONDS = Number(Deno.env.get("BENCH_PGBENCH_SECONDS") ?? 30);
/** Requests in flight at most during the steady phase; beyond it the schedule slips (and says so). */
const IN_FLIGHT_MAX = 1_000;
const ACCOUNTS = 40;
const OWNERS = 10;
const SHARED_BENCH_DIR = new URL("../../../shared/bench/", import.meta.url);

interface Payer {
  token: string;
  from: string;
  to: string;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]!;
}

const ms = (x: number) => `${x.toFixed(1)} ms`;

async function payersOf(system: System): Promise<Payer[]> {
  const world = await createWorld(
    system,
    Array.from({ length: ACCOUNTS }, (_, i) => ({ owner: i % OWNERS, currency: "EUR", depositMinor: 1_000_000_000 })),
  );
  return world.accounts.map((a, i) => ({
    token: a.token,
    from: a.id,
    to: world.accounts[(i + 1 + (i * 7) % (ACCOUNTS - 1)) % ACCOUNTS]!.id,
  }));
}

let sequence = 0;
async function pay(system: System, payer: Payer): Promise<{ ok: boolean; id?: string; status: number }> {
  const reply = await call(system.gatewayUrl, "POST", "/v1/payments", {
    token: payer.token,
    key: `bench-${++sequence}`,
    body: { from_account: payer.from, to_account: payer.to, amount: 1 + (sequence % 100), currency: "EUR" },
  });
  if (reply.status !== 202 && !refusals.has(reply.status)) refusals.set(reply.status, reply.text.slice(0, 300));
  return reply.status === 202 ? { ok: true, id: reply.body.id, status: 202 } : { ok: false, status: reply.status };
}

/** The first answer of each refusing status, to say what went wrong. */
const refusals = new Map<number, string>();

async function completionTimes(system: System, ids: readonly string[]) {
  const rows = await system.sql<{ ms: number; status: string }[]>`
    select extract(epoch from (updated_at - created_at)) * 1000 as ms, status
    from payments.transactions where id = any(${ids}::uuid[])`;
  const completed = rows.filter((r) => r.status === "COMPLETED").map((r) => Number(r.ms)).sort((a, b) => a - b);
  return { completed, other: rows.length - completed.length };
}

async function conflictFigures(system: System) {
  const port = system.stack.ports.accountAdmin;
  return {
    conflicts: await metricTotal(port, "securepay_account_optimistic_conflicts_total") ?? 0,
    events: await metricTotal(port, "securepay_account_events_total") ?? 0,
  };
}

async function steadyPhase(system: System, payers: readonly Payer[]) {
  const total = RATE * STEADY_SECONDS;
  const ids: string[] = [];
  const failures = new Map<number, number>();
  let inFlight = 0;
  let slipped = 0;
  const before = await conflictFigures(system);
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    else if (wait < -50) slipped++;
    while (inFlight >= IN_FLIGHT_MAX) await new Promise((resolve) => setTimeout(resolve, 1));
    inFlight++;
    pending.push(
      pay(system, payers[i % payers.length]!).then((r) => {
        inFlight--;
        if (r.ok) ids.push(r.id!);
        else failures.set(r.status, (failures.get(r.status) ?? 0) + 1);
      }),
    );
  }
  const sentSeconds = (performance.now() - started) / 1000;
  await Promise.all(pending);
  const answeredSeconds = (performance.now() - started) / 1000;
  const quietMs = await waitQuiet(system.sql, 300_000);
  const after = await conflictFigures(system);
  const [stored] = await system.sql<{ n: number }[]>`
    select count(*)::int as n from payments.transactions where created_at >= ${new Date(
    Date.now() - (performance.now() - started),
  )}`;
  const times = await completionTimes(system, ids);
  const applied = after.events - before.events;
  const conflicts = after.conflicts - before.conflicts;
  console.log(`\n== steady load: ${RATE} payments/s for ${STEADY_SECONDS} s (open loop) ==`);
  console.log(
    `sent ${total} in ${sentSeconds.toFixed(1)} s (${slipped} started > 50 ms late), all answered after ` +
      `${answeredSeconds.toFixed(1)} s; 202: ${ids.length}; other answers: ${
        JSON.stringify(Object.fromEntries(failures))
      }; quiet ${quietMs} ms after the last answer; payments stored in that time: ${stored!.n}`,
  );
  for (const [status, text] of refusals) console.log(`first ${status} answer: ${text}`);
  console.log(
    `202 -> COMPLETED (database clock), ${times.completed.length} payments: p50 ${
      ms(percentile(times.completed, 50))
    }, p90 ${ms(percentile(times.completed, 90))}, p99 ${ms(percentile(times.completed, 99))}, max ${
      ms(percentile(times.completed, 100))
    }; not COMPLETED: ${times.other}`,
  );
  console.log(
    `optimistic-lock conflicts: ${conflicts} over ${applied} account events handled (${
      (applied === 0 ? 0 : 100 * conflicts / applied).toFixed(2)
    }% of events; each conflict retries its batch transaction)`,
  );
  return { p50: percentile(times.completed, 50), p99: percentile(times.completed, 99), conflicts, applied };
}

async function maxPhase(system: System, payers: readonly Payer[]) {
  const ids: string[] = [];
  let refused = 0;
  const started = performance.now();
  const startedAt = new Date();
  const deadline = started + MAX_SECONDS * 1000;
  let next = 0;
  const worker = async () => {
    while (performance.now() < deadline) {
      const r = await pay(system, payers[next++ % payers.length]!);
      if (r.ok) ids.push(r.id!);
      else refused++;
    }
  };
  await Promise.all(Array.from({ length: MAX_CONCURRENCY }, worker));
  const acceptSeconds = (performance.now() - started) / 1000;
  const peak = await backlog(system.sql);
  await waitQuiet(system.sql, 300_000);
  const [span] = await system.sql<{ seconds: number }[]>`
    select extract(epoch from (max(updated_at) - ${startedAt}::timestamptz)) as seconds
    from payments.transactions where id = any(${ids}::uuid[])`;
  const seconds = Number(span!.seconds);
  const times = await completionTimes(system, ids);
  const sustained = ids.length / seconds;
  console.log(`\n== maximum: ${MAX_CONCURRENCY} clients in a closed loop for ${MAX_SECONDS} s ==`);
  console.log(
    `accepted ${ids.length} (${(ids.length / acceptSeconds).toFixed(0)}/s at the API, ${refused} refused); ` +
      `backlog when the clients stopped: ${peak.pendingPayments} PENDING; last COMPLETED ${seconds.toFixed(1)} s ` +
      `after the first request`,
  );
  console.log(
    `sustained end to end: ${sustained.toFixed(0)} payments/s (accepted and COMPLETED); 202 -> COMPLETED p50 ${
      ms(percentile(times.completed, 50))
    }, p99 ${ms(percentile(times.completed, 99))}`,
  );
  return sustained;
}

async function pgbenchBaseline(): Promise<number | undefined> {
  await using scratch = await createTestDatabase();
  const dir = SHARED_BENCH_DIR.pathname;
  const psql = await command("psql", [
    "-q",
    "-v",
    "ON_ERROR_STOP=1",
    "-f",
    `${dir}payment-baseline-schema.sql`,
    scratch.url,
  ]);
  if (!psql.success) {
    console.log(`pgbench baseline skipped: the schema did not apply: ${new TextDecoder().decode(psql.stderr)}`);
    return undefined;
  }
  const run = await command("pgbench", [
    "-n",
    "-f",
    `${dir}payment-baseline.sql`,
    "-c",
    "8",
    "-j",
    "2",
    "-T",
    String(PGBENCH_SECONDS),
    scratch.url,
  ]);
  const out = new TextDecoder().decode(run.stdout);
  const tps = out.match(/tps = ([\d.]+) \(without initial connection time\)/);
  console.log(`\n== database alone: pgbench ${dir}payment-baseline.sql -c 8 -j 2 -T ${PGBENCH_SECONDS} ==`);
  if (!run.success || tps === null) {
    console.log(`pgbench failed: ${new TextDecoder().decode(run.stderr).slice(0, 500)}`);
    return undefined;
  }
  const latency = out.match(/latency average = ([\d.]+ ms)/)?.[1];
  console.log(`${Number(tps[1]).toFixed(0)} payments/s (one commit per step), latency average ${latency}`);
  return Number(tps[1]);
}

function command(program: string, args: readonly string[]) {
  return new Deno.Command(program, { args: [...args], stdout: "piped", stderr: "piped" }).output();
}

export async function main(): Promise<void> {
  const cores = navigator.hardwareConcurrency;
  console.log(`SecurePay end-to-end benchmark on ${cores} cores, ${Deno.build.os}, Deno ${Deno.version.deno}`);
  let steady: Awaited<ReturnType<typeof steadyPhase>>;
  let sustained: number;
  {
    await using system = await startSystem();
    const payers = await payersOf(system);
    // Warm-up: connections, JIT, topic metadata.
    for (let i = 0; i < 200; i += 20) {
      await Promise.all(payers.slice(0, 20).map((p) => pay(system, p)));
    }
    await waitQuiet(system.sql, 120_000);
    steady = await steadyPhase(system, payers);
    sustained = await maxPhase(system, payers);
  }
  const baseline = await pgbenchBaseline();
  console.log(`\n== summary ==`);
  console.log(
    `202 -> COMPLETED at ${RATE}/s: p50 ${ms(steady.p50)}, p99 ${ms(steady.p99)}; optimistic conflicts ${
      (steady.applied === 0 ? 0 : 100 * steady.conflicts / steady.applied).toFixed(2)
    }% of account events; max sustained ${sustained.toFixed(0)} payments/s; pgbench baseline ${
      baseline?.toFixed(0) ?? "n/a"
    } payments/s; ratio ${baseline ? (sustained / baseline).toFixed(2) : "n/a"}`,
  );
}

if (import.meta.main) await main();
