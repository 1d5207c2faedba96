/**
 * Load for the system tests, through the public API only: a world of
 * funded accounts, a list of operations (payments, repeated
 * Idempotency-Keys, refunds) run at a fixed concurrency, and the checks a
 * client can make of every answer. Problems are collected, not thrown, so
 * one run reports everything it saw.
 */

import type { Sql } from "@securepay/shared";
import { call, type Reply, type System, waitUntil } from "./_system.ts";
import { NOTIFIED_ROLES } from "./invariants.ts";

export interface AccountSpec {
  readonly owner: number;
  readonly currency: string;
  readonly depositMinor: number;
}

export interface WorldAccount {
  readonly id: string;
  readonly owner: string;
  readonly currency: string;
  readonly token: string;
}

export interface World {
  /** Distinguishes this world's Idempotency-Keys from those of other worlds of the same run. */
  readonly id: string;
  readonly accounts: readonly WorldAccount[];
  readonly adminToken: string;
  /** What this run deposited, by currency (201 answers only). */
  readonly deposits: Readonly<Record<string, number>>;
  /** Every principal this run used. */
  readonly owners: readonly string[];
}

/** Opens and funds the accounts, each owner with its own token, deposits as ADMIN. */
export async function createWorld(system: System, specs: readonly AccountSpec[]): Promise<World> {
  const adminToken = await system.token(`admin-${system.runId}`, ["ADMIN"]);
  const ownerCount = Math.max(...specs.map((s) => s.owner)) + 1;
  const owners = Array.from({ length: ownerCount }, (_, i) => `owner${i}-${system.runId}`);
  const tokens = await Promise.all(owners.map((o) => system.token(o)));
  const id = crypto.randomUUID().slice(0, 8);
  const deposits: Record<string, number> = {};
  const accounts: WorldAccount[] = [];
  for (const [i, spec] of specs.entries()) {
    const token = tokens[spec.owner]!;
    const created = await call(system.gatewayUrl, "POST", "/v1/accounts", { token, body: { currency: spec.currency } });
    if (created.status !== 201) throw new Error(`Cannot open account ${i}: ${created.status} ${created.text}`);
    const id = created.body.id as string;
    if (spec.depositMinor > 0) {
      const deposit = await call(system.gatewayUrl, "POST", `/v1/accounts/${id}/deposits`, {
        token: adminToken,
        body: { amount: spec.depositMinor },
        key: `deposit-${id}-${i}`,
      });
      if (deposit.status !== 201) throw new Error(`Cannot fund account ${i}: ${deposit.status} ${deposit.text}`);
      deposits[spec.currency] = (deposits[spec.currency] ?? 0) + spec.depositMinor;
    }
    accounts.push({ id, owner: owners[spec.owner]!, currency: spec.currency, token });
  }
  return { id, accounts, adminToken, deposits, owners: [...owners, `admin-${system.runId}`] };
}

export type Op =
  | { readonly kind: "pay"; readonly from: number; readonly to: number; readonly amount: number }
  /** The same Idempotency-Key as op `of` (a pay op), with the same body or a changed amount. */
  | { readonly kind: "repeat"; readonly of: number; readonly sameBody: boolean }
  /** A refund of the payment of op `of` (a pay op), by ADMIN, with a fresh key. */
  | { readonly kind: "refund"; readonly of: number };

export interface OpOutcome {
  readonly op: Op;
  /** The last answer (after retries of ambiguous answers). */
  readonly reply: Reply;
  readonly attempts: number;
  /** For a pay op answered 202: the payment id. */
  readonly paymentId?: string;
  readonly acceptedAt?: number;
}

export interface LoadOptions {
  concurrency: number;
  /**
   * Retry answers that do not say what happened (no answer, 5xx, 409 in use)
   * with the same key, as a client following Stripe's rules would; for runs
   * in which programs die. Bounded by this many milliseconds per operation.
   */
  retryAmbiguousForMs?: number;
  /** Called after each finished operation with the count finished so far. */
  onProgress?: (done: number) => void;
}

export interface LoadResult {
  readonly outcomes: readonly OpOutcome[];
  /** Answers a correct platform cannot give. */
  readonly problems: readonly string[];
  /** Every payment id answered 202 (first answers and replays). */
  readonly acceptedIds: ReadonlySet<string>;
  readonly replays: { identical: number; total: number };
  readonly elapsedMs: number;
}

const AMBIGUOUS = (r: Reply) =>
  r.status === 0 || r.status >= 500 || (r.status === 409 && r.body?.code === "idempotency_key_in_use");

/** The refusals a valid payment request may get: the payer lacks funds, or the payee holds another currency. */
function refusedAsExpected(r: Reply): boolean {
  return r.status === 422 && (r.body?.code === "insufficient_funds" || r.body?.code === "currency_mismatch");
}

function describe(r: Reply): string {
  return `${r.status} ${r.text.slice(0, 300)}`;
}

/** Runs `ops` in order of start with `concurrency` in flight; repeats and refunds wait for the op they refer to. */
export async function runLoad(
  system: System,
  world: World,
  ops: readonly Op[],
  options: LoadOptions,
): Promise<LoadResult> {
  const base = system.gatewayUrl;
  const problems: string[] = [];
  const outcomes: (OpOutcome | undefined)[] = new Array(ops.length);
  const finished: Promise<OpOutcome>[] = new Array(ops.length);
  const acceptedIds = new Set<string>();
  const replays = { identical: 0, total: 0 };
  const refundChain = new Map<number, Promise<OpOutcome>>();
  const keyChain = new Map<number, Promise<OpOutcome>>();
  const stored = new Map<number, { sameBody: boolean; reply: Reply }>();
  const started = performance.now();

  const keyOf = (i: number) => `pay-${world.id}-${i}`;
  const bodyOf = (op: Extract<Op, { kind: "pay" }>, changed = false) => {
    const from = world.accounts[op.from]!;
    return {
      from_account: from.id,
      to_account: world.accounts[op.to]!.id,
      amount: op.amount + (changed ? 1 : 0),
      currency: from.currency,
      description: `system ${op.from}->${op.to}`,
    };
  };
  /** Sends once, or retries ambiguous answers with the same key within the bound. */
  const send = async (attempt: () => Promise<Reply>) => {
    const deadline = Date.now() + (options.retryAmbiguousForMs ?? 0);
    let attempts = 1;
    let reply = await attempt();
    while (AMBIGUOUS(reply) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 100 * 2 ** Math.min(attempts, 5))));
      attempts++;
      reply = await attempt();
    }
    return { reply, attempts };
  };

  const runOne = async (i: number): Promise<OpOutcome> => {
    const op = ops[i]!;
    if (op.kind === "pay") {
      const payer = world.accounts[op.from]!;
      const body = bodyOf(op);
      const { reply, attempts } = await send(() =>
        call(base, "POST", "/v1/payments", { token: payer.token, body, key: keyOf(i) })
      );
      if (reply.status === 202) {
        const p = reply.body;
        if (
          p?.status !== "PENDING" && !(attempts > 1 && ["COMPLETED", "FAILED", "REFUNDED"].includes(p?.status))
        ) problems.push(`op ${i}: 202 with status ${p?.status}`);
        if (p?.amount !== body.amount || p?.from_account !== body.from_account || p?.to_account !== body.to_account) {
          problems.push(`op ${i}: 202 does not echo the request: ${reply.text}`);
        }
        acceptedIds.add(p.id);
        return { op, reply, attempts, paymentId: p.id as string, acceptedAt: Date.now() };
      }
      if (!refusedAsExpected(reply)) {
        problems.push(`op ${i} (pay ${op.amount} ${payer.currency}): unexpected ${describe(reply)}`);
      }
      return { op, reply, attempts };
    }

    const original = await finished[op.of]!;
    const pay = ops[op.of] as Extract<Op, { kind: "pay" }>;
    if (op.kind === "repeat") {
      // Requests under one key go one after the other, so that what the key holds is known.
      const prior = keyChain.get(op.of);
      keyChain.set(op.of, finished[i]!);
      if (prior !== undefined) await prior;
      const payer = world.accounts[pay.from]!;
      const body = bodyOf(pay, !op.sameBody);
      const { reply, attempts } = await send(() =>
        call(base, "POST", "/v1/payments", { token: payer.token, body, key: keyOf(op.of) })
      );
      // Only an accepted payment is kept under its key; a refused request leaves the key free (payment's rule).
      const kept = stored.get(op.of) ??
        (original.paymentId === undefined ? undefined : { sameBody: true, reply: original.reply });
      if (kept === undefined) {
        if (reply.status === 202) {
          stored.set(op.of, { sameBody: op.sameBody, reply });
          acceptedIds.add(reply.body?.id);
          if (reply.body?.amount !== body.amount) {
            problems.push(`op ${i}: 202 does not echo the request: ${reply.text}`);
          }
        } else if (!refusedAsExpected(reply)) {
          problems.push(`op ${i}: key ${keyOf(op.of)}, first refused, now answered ${describe(reply)}`);
        }
        return { op, reply, attempts };
      }
      if (kept.sameBody !== op.sameBody) {
        if (reply.status !== 422 || reply.body?.code !== "idempotency_key_reused") {
          problems.push(`op ${i}: reused key ${keyOf(op.of)} with another body answered ${describe(reply)}`);
        }
        return { op, reply, attempts };
      }
      replays.total++;
      if (reply.status === 202) acceptedIds.add(reply.body?.id);
      if (reply.text === kept.reply.text && reply.status === kept.reply.status) {
        replays.identical++;
        if (!reply.replayed) problems.push(`op ${i}: replay without Idempotent-Replayed: true`);
      } else {
        problems.push(`op ${i}: replay of ${keyOf(op.of)} answered ${describe(reply)}, first ${describe(kept.reply)}`);
      }
      return { op, reply, attempts };
    }

    // A refund: of a payment that reached COMPLETED it is accepted once; otherwise refused.
    // A second refund of one payment goes after the first, so "second" means second in time too.
    const prior = refundChain.get(op.of);
    refundChain.set(op.of, finished[i]!);
    if (prior !== undefined) await prior;
    const second = prior !== undefined;
    const refundKey = `refund-${world.id}-${i}`;
    if (original.paymentId === undefined) {
      return {
        op,
        reply: { status: -2, text: "not sent: the payment was refused", body: undefined, replayed: false },
        attempts: 0,
      };
    }
    let status = "PENDING";
    await waitUntil(`payment ${original.paymentId} became final`, async () => {
      const read = await call(base, "GET", `/v1/payments/${original.paymentId}`, { token: world.adminToken });
      status = read.body?.status ?? "PENDING";
      return read.status === 200 && status !== "PENDING";
    }, { timeoutMs: 120_000, intervalMs: 200 }).catch((error) => problems.push(`op ${i}: ${error.message}`));
    const { reply, attempts } = await send(() =>
      call(base, "POST", `/v1/payments/${original.paymentId}/refunds`, { token: world.adminToken, key: refundKey })
    );
    const refusal = reply.status === 422 && reply.body?.code === "payment_not_refundable";
    if (status === "COMPLETED" && !second && reply.status !== 202) {
      problems.push(`op ${i}: refund of COMPLETED ${original.paymentId} answered ${describe(reply)}`);
    } else if ((status !== "COMPLETED" || second) && !refusal && !(second && reply.status === 202 && attempts > 1)) {
      problems.push(`op ${i}: refund of ${status}${second ? " (again)" : ""} payment answered ${describe(reply)}`);
    }
    return { op, reply, attempts };
  };

  let next = 0;
  let done = 0;
  const gates: ((o: OpOutcome) => void)[] = [];
  for (let i = 0; i < ops.length; i++) finished[i] = new Promise((resolve) => gates[i] = resolve);
  const worker = async () => {
    while (next < ops.length) {
      const i = next++;
      let outcome: OpOutcome;
      try {
        outcome = await runOne(i);
      } catch (error) {
        problems.push(`op ${i}: ${(error as Error).stack ?? error}`);
        outcome = {
          op: ops[i]!,
          reply: { status: -1, text: String(error), body: undefined, replayed: false },
          attempts: 0,
        };
      }
      outcomes[i] = outcome;
      gates[i]!(outcome);
      options.onProgress?.(++done);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return {
    outcomes: outcomes as OpOutcome[],
    problems,
    acceptedIds,
    replays,
    elapsedMs: performance.now() - started,
  };
}

export interface Backlog {
  pendingPayments: number;
  pendingRefunds: number;
  unsentEvents: number;
  missingNotices: number;
}

/** What is still on its way: payments and refunds not final, events unsent, notices not yet claimed. */
export async function backlog(sql: Sql): Promise<Backlog> {
  const [row] = await sql<Backlog[]>`
    select
      (select count(*)::int from payments.transactions where status = 'PENDING') as "pendingPayments",
      (select count(*)::int from payments.refunds where status = 'PENDING') as "pendingRefunds",
      (select count(*)::int from payments.outbox where sent_at is null)
        + (select count(*)::int from accounts.outbox where sent_at is null) as "unsentEvents",
      (select coalesce(sum(case topic
          when 'payment.completed' then ${NOTIFIED_ROLES["payment.completed"]!.length}
          when 'payment.failed' then ${NOTIFIED_ROLES["payment.failed"]!.length}
          when 'payment.refunded' then ${NOTIFIED_ROLES["payment.refunded"]!.length}
          when 'payment.refund.failed' then ${NOTIFIED_ROLES["payment.refund.failed"]!.length}
          else 0 end), 0)::int from accounts.outbox)
        - (select count(*)::int from notifications.deliveries)
        as "missingNotices"`;
  return row!;
}

/** Waits until nothing is on its way (bounded); returns how long it took, or throws with the backlog. */
export async function waitQuiet(sql: Sql, timeoutMs = 120_000): Promise<number> {
  let last: Backlog | undefined;
  try {
    return await waitUntil("the system became quiet", async () => {
      last = await backlog(sql);
      return last.pendingPayments === 0 && last.pendingRefunds === 0 && last.unsentEvents === 0 &&
        last.missingNotices <= 0;
    }, { timeoutMs, intervalMs: 500 });
  } catch (error) {
    throw new Error(`${(error as Error).message}; still on its way: ${JSON.stringify(last)}`);
  }
}

/**
 * What the client saw against what the database holds: every payment
 * answered 202 exists and is final, and every payment of this run's
 * principals was answered 202 to somebody (none appeared unannounced).
 */
export async function compareWithDatabase(sql: Sql, world: World, load: LoadResult): Promise<string[]> {
  const problems: string[] = [];
  const rows = await sql<{ id: string; status: string }[]>`
    select id, status from payments.transactions
    where principal = any(${world.owners}) and idempotency_key like ${`pay-${world.id}-%`}`;
  const inDb = new Map(rows.map((r) => [r.id, r.status]));
  for (const id of load.acceptedIds) {
    const status = inDb.get(id);
    if (status === undefined) problems.push(`payment ${id} was answered 202 but is not in the database (lost)`);
    else if (status === "PENDING") problems.push(`payment ${id} was answered 202 but is still PENDING`);
  }
  for (const id of inDb.keys()) {
    if (!load.acceptedIds.has(id)) problems.push(`payment ${id} is in the database but no client was told of it`);
  }
  return problems;
}

/** A deterministic pseudo-random generator (mulberry32), for load that must not depend on fast-check. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Reads a counter's total (all label sets) from a program's /metrics. */
export async function metricTotal(adminPort: number, name: string): Promise<number | undefined> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`).catch(() => undefined);
  if (res === undefined) return undefined;
  const text = await res.text();
  let total: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) {
      total = (total ?? 0) + Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}
