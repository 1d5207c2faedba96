/**
 * The six invariants of DESIGN.md §8, checked against the database the
 * services share, plus the notification ledger (one notice per event and
 * recipient). Every system test calls `checkInvariants` once the system is
 * quiet; a violation names the invariant and the rows that break it.
 *
 * The checks read the real schemas (`accounts`, `payments`,
 * `notifications`) and skip a schema that does not exist, so a partial
 * stack can still be checked for what it has.
 */

import { decodeEvent, isTopic, type Sql, TOPICS } from "@securepay/shared";

export type InvariantId = 1 | 2 | 3 | 4 | 5 | 6 | "notify";

export interface Violation {
  readonly invariant: InvariantId;
  readonly message: string;
}

export interface InvariantOptions {
  /**
   * What the caller itself deposited, by currency (from its 201 answers).
   * When given, the deposits table and the balances must both add up to it.
   */
  deposits?: Readonly<Record<string, number>>;
  /** Check the notification ledger when its schema exists (default true). */
  notifications?: boolean;
  /** Bound on the violations reported per check (default 20), so output stays readable. */
  perCheckMax?: number;
}

/** Who hears of each notified event (notification/domain/templates.ts). */
export const NOTIFIED_ROLES: Readonly<Record<string, readonly string[]>> = {
  [TOPICS.paymentCompleted]: ["payer", "payee"],
  [TOPICS.paymentFailed]: ["payer"],
  [TOPICS.paymentRefunded]: ["payer", "payee"],
  [TOPICS.refundFailed]: ["payer"],
};

const OUTCOME_TOPICS = [TOPICS.paymentCompleted, TOPICS.paymentFailed, TOPICS.paymentRefunded, TOPICS.refundFailed];

interface PaymentRow {
  id: string;
  principal: string;
  idempotency_key: string;
  from_account: string;
  to_account: string;
  amount: number;
  currency: string;
  status: string;
  created_at: Date;
  updated_at: Date;
}

interface DeliveryRow {
  event_id: string;
  recipient: string;
  event_type: string;
  payment_id: string;
  status: string;
}

interface EntryRow {
  payment_id: string;
  account_id: string;
  amount: number;
  currency: string;
  kind: string;
}

/** Returns every violation found; an empty list means all invariants hold. */
export async function checkInvariants(sql: Sql, options: InvariantOptions = {}): Promise<Violation[]> {
  const perCheckMax = options.perCheckMax ?? 20;
  const violations: Violation[] = [];
  const counts = new Map<string, { invariant: InvariantId; n: number }>();
  /** Records a violation under `check`, keeping at most perCheckMax of each check and counting the rest. */
  const report = (invariant: InvariantId, check: string, message: string) => {
    const n = (counts.get(check)?.n ?? 0) + 1;
    counts.set(check, { invariant, n });
    if (n <= perCheckMax) violations.push({ invariant, message });
  };

  const exists = async (relation: string) =>
    (await sql<{ r: string | null }[]>`select to_regclass(${relation})::text as r`)[0]!.r !== null;
  const hasAccounts = await exists("accounts.balances");
  const hasPayments = await exists("payments.transactions");
  const hasRefunds = await exists("payments.refunds");
  const hasAccountEvents = await exists("accounts.outbox") && await exists("accounts.inbox");
  const hasDeliveries = (options.notifications ?? true) && await exists("notifications.deliveries");

  if (hasAccounts) {
    // 1. Money is conserved, per currency: balances = deposits (= what the caller deposited).
    const sums = await sql<{ currency: string; balances: string; deposits: string }[]>`
      with b as (select currency, sum(balance) as s from accounts.balances group by currency),
           d as (select currency, sum(amount) as s from accounts.deposits group by currency)
      select coalesce(b.currency, d.currency) as currency,
             coalesce(b.s, 0)::text as balances, coalesce(d.s, 0)::text as deposits
      from b full join d on b.currency = d.currency`;
    const currencies = new Set([...sums.map((r) => r.currency), ...Object.keys(options.deposits ?? {})]);
    for (const currency of currencies) {
      const row = sums.find((r) => r.currency === currency);
      const balances = BigInt(row?.balances ?? "0");
      const deposits = BigInt(row?.deposits ?? "0");
      if (balances !== deposits) {
        report(1, "1.sum", `${currency}: balances add up to ${balances} but deposits to ${deposits}`);
      }
      const expected = options.deposits?.[currency];
      if (expected !== undefined && BigInt(expected) !== deposits) {
        report(
          1,
          "1.expected",
          `${currency}: the caller deposited ${expected} but the deposits table holds ${deposits}`,
        );
      }
    }
    // The ledger explains every balance, and every deposit is booked once.
    const unexplained = await sql<{ id: string; balance: number; ledger: string }[]>`
      select b.id, b.balance, coalesce(l.s, 0)::text as ledger
      from accounts.balances b
      left join (select account_id, sum(amount) as s from accounts.ledger_entries group by account_id) l
        on l.account_id = b.id
      where b.balance <> coalesce(l.s, 0)`;
    for (const r of unexplained) {
      report(1, "1.ledger", `account ${r.id}: balance ${r.balance} but its ledger entries add up to ${r.ledger}`);
    }
    const unbooked = await sql<{ id: string; amount: number; booked: string; entries: number }[]>`
      select d.id, d.amount, coalesce(sum(l.amount), 0)::text as booked, count(l.id)::int as entries
      from accounts.deposits d
      left join accounts.ledger_entries l on l.deposit_id = d.id and l.kind = 'DEPOSIT' and l.account_id = d.account_id
      group by d.id, d.amount
      having count(l.id) <> 1 or coalesce(sum(l.amount), 0) <> d.amount`;
    for (const r of unbooked) {
      report(1, "1.deposit", `deposit ${r.id} of ${r.amount}: ${r.entries} DEPOSIT entries booking ${r.booked}`);
    }

    // 2. No balance is ever negative (nor any balance the ledger passed through).
    const negative = await sql<{ id: string; balance: number }[]>`
      select id, balance from accounts.balances where balance < 0`;
    for (const r of negative) report(2, "2.balance", `account ${r.id} has a negative balance ${r.balance}`);
    const negativeAfter = await sql<{ id: string; account_id: string; balance_after: number }[]>`
      select id, account_id, balance_after from accounts.ledger_entries where balance_after < 0`;
    for (const r of negativeAfter) {
      report(2, "2.ledger", `ledger entry ${r.id} left account ${r.account_id} at ${r.balance_after}`);
    }
  }

  if (!hasPayments) return finish(violations, counts, perCheckMax);

  const payments = await sql<PaymentRow[]>`
    select id, principal, idempotency_key, from_account, to_account, amount, currency, status, created_at, updated_at
    from payments.transactions`;
  const byId = new Map(payments.map((p) => [p.id, p]));

  if (hasAccounts) {
    // 3. Completed: one debit and one credit of equal amount; refunded: plus the reverse pair; otherwise none.
    const entries = await sql<EntryRow[]>`
      select payment_id, account_id, amount, currency, kind from accounts.ledger_entries where payment_id is not null`;
    const byPayment = new Map<string, EntryRow[]>();
    for (const e of entries) {
      const list = byPayment.get(e.payment_id) ?? [];
      list.push(e);
      byPayment.set(e.payment_id, list);
    }
    for (const [paymentId, list] of byPayment) {
      if (!byId.has(paymentId)) {
        report(3, "3.orphan", `payment ${paymentId} has ${list.length} ledger entries but no transaction`);
      }
    }
    for (const p of payments) {
      const expected: EntryRow[] = [];
      const pair = (debitKind: string, creditKind: string, from: string, to: string) => {
        expected.push({ payment_id: p.id, account_id: from, amount: -p.amount, currency: p.currency, kind: debitKind });
        expected.push({ payment_id: p.id, account_id: to, amount: p.amount, currency: p.currency, kind: creditKind });
      };
      if (p.status === "COMPLETED" || p.status === "REFUNDED") pair("DEBIT", "CREDIT", p.from_account, p.to_account);
      if (p.status === "REFUNDED") pair("REFUND_DEBIT", "REFUND_CREDIT", p.to_account, p.from_account);
      const actual = byPayment.get(p.id) ?? [];
      const key = (e: EntryRow) => `${e.kind} ${e.account_id} ${e.amount} ${e.currency}`;
      const want = expected.map(key).sort();
      const got = actual.map(key).sort();
      if (want.join("|") !== got.join("|")) {
        report(
          3,
          "3.pairs",
          `${p.status} payment ${p.id} of ${p.amount} ${p.currency}: expected entries [${want.join("; ")}], found [${
            got.join("; ")
          }]`,
        );
      }
    }
  }

  // 4. Every accepted payment is final once quiet, and nothing is stuck on its way.
  for (const p of payments) {
    if (p.status === "PENDING") {
      report(4, "4.pending", `payment ${p.id} is still PENDING (created ${iso(p.created_at)})`);
    }
  }
  if (hasRefunds) {
    const pendingRefunds = await sql<{ id: string; payment_id: string }[]>`
      select id, payment_id from payments.refunds where status = 'PENDING'`;
    for (const r of pendingRefunds) report(4, "4.refund", `refund ${r.id} of payment ${r.payment_id} is still PENDING`);
  }
  for (const schema of ["payments", "accounts"] as const) {
    if (!await exists(`${schema}.outbox`)) continue;
    const [unsent] = await sql<{ n: number }[]>`
      select count(*)::int as n from ${sql(schema)}.outbox where sent_at is null`;
    if (unsent!.n > 0) report(4, `4.outbox.${schema}`, `${schema}.outbox holds ${unsent!.n} unsent events`);
  }
  if (await exists("payments.outbox")) {
    const initiated = await sql<{ topic: string; payload: Uint8Array }[]>`
      select topic, payload from payments.outbox where topic = ${TOPICS.paymentInitiated}`;
    const announced = countByPayment(initiated);
    for (const p of payments) {
      const n = announced.get(p.id) ?? 0;
      if (n !== 1) report(4, "4.initiated", `payment ${p.id} has ${n} payment.initiated events in the outbox`);
    }
  }
  if (hasAccountEvents) {
    const seen = new Set(
      (await sql<{ payment_id: string }[]>`
        select payment_id from accounts.inbox where topic = ${TOPICS.paymentInitiated}`).map((r) => r.payment_id),
    );
    for (const p of payments) {
      if (!seen.has(p.id)) report(4, "4.applied", `${p.status} payment ${p.id} never reached the account service`);
    }
  }

  // 5. One (principal, Idempotency-Key) yields at most one payment (and one refund, and one deposit).
  const keys = new Map<string, string[]>();
  for (const p of payments) {
    const k = `${p.principal}\u0000${p.idempotency_key}`;
    keys.set(k, [...keys.get(k) ?? [], p.id]);
  }
  for (const [k, ids] of keys) {
    if (ids.length > 1) report(5, "5.payments", `(${k.replace("\u0000", ", ")}) yields ${ids.length} payments`);
  }
  for (
    const [relation, columns] of [
      ["payments.transactions", "principal, idempotency_key"],
      ["payments.refunds", "principal, idempotency_key"],
      ["payments.refunds", "payment_id"],
      ["accounts.deposits", "principal, idempotency_key"],
    ] as const
  ) {
    if (!await exists(relation)) continue;
    const [schema, table] = relation.split(".") as [string, string];
    const dupes = await sql.unsafe<{ k: string; n: number }[]>(
      `select concat_ws(', ', ${columns}) as k, count(*)::int as n from ${schema}.${table}
       group by ${columns} having count(*) > 1`,
    );
    for (const d of dupes) report(5, `5.${relation}`, `${relation}: (${d.k}) appears ${d.n} times`);
    if (!await hasUniqueIndex(sql, relation, columns.split(", "))) {
      report(5, `5.unique.${relation}`, `${relation} has no unique index on (${columns})`);
    }
  }

  // 6. A status never goes backwards: the guard trigger exists, and the events agree with each status.
  const [guard] = await sql<{ n: number }[]>`
    select count(*)::int as n from pg_trigger
    where tgrelid = 'payments.transactions'::regclass and not tgisinternal and tgenabled <> 'D'
      and tgtype & 16 = 16 and pg_get_triggerdef(oid) ilike '%before update%'`;
  if (guard!.n === 0) report(6, "6.trigger", "payments.transactions has no enabled BEFORE UPDATE guard trigger");
  for (const p of payments) {
    if (p.updated_at < p.created_at) report(6, "6.time", `payment ${p.id} was updated before it was created`);
  }
  if (hasAccountEvents) {
    const outcomes = await sql<{ topic: string; payload: Uint8Array }[]>`
      select topic, payload from accounts.outbox where topic = any(${OUTCOME_TOPICS})`;
    const events = new Map<string, Record<string, number>>();
    for (const o of outcomes) {
      const id = paymentIdOf(o.topic, o.payload);
      const tally = events.get(id) ?? {};
      tally[o.topic] = (tally[o.topic] ?? 0) + 1;
      events.set(id, tally);
    }
    for (const [id, tally] of events) {
      if (!byId.has(id)) report(6, "6.orphan", `account announced ${JSON.stringify(tally)} for unknown payment ${id}`);
    }
    const refunds = hasRefunds
      ? new Map(
        (await sql<{ payment_id: string; status: string }[]>`select payment_id, status from payments.refunds`)
          .map((r) => [r.payment_id, r.status]),
      )
      : new Map<string, string>();
    for (const p of payments) {
      const t = events.get(p.id) ?? {};
      const completed = t[TOPICS.paymentCompleted] ?? 0;
      const failed = t[TOPICS.paymentFailed] ?? 0;
      const refunded = t[TOPICS.paymentRefunded] ?? 0;
      const refundFailed = t[TOPICS.refundFailed] ?? 0;
      const problems: string[] = [];
      if (completed + failed > 1) problems.push("more than one outcome was announced");
      if (refunded + refundFailed > 1) problems.push("more than one refund outcome was announced");
      if (refunded + refundFailed > 0 && completed !== 1) problems.push("a refund outcome without a completion");
      if (p.status === "COMPLETED" && (completed !== 1 || refunded !== 0)) problems.push("not what account announced");
      if (p.status === "FAILED" && (failed !== 1 || completed !== 0)) problems.push("not what account announced");
      if (p.status === "REFUNDED" && (completed !== 1 || refunded !== 1)) problems.push("not what account announced");
      if (p.status === "PENDING" && completed + failed > 0) problems.push("the outcome was announced but not applied");
      const refund = refunds.get(p.id);
      if (p.status === "REFUNDED" && refund !== "COMPLETED") problems.push(`its refund is ${refund ?? "missing"}`);
      if (refund === "COMPLETED" && p.status !== "REFUNDED") problems.push("its refund COMPLETED");
      if (refund === "FAILED" && refundFailed !== 1) problems.push("its refund FAILED without a refund.failed event");
      if (problems.length > 0) {
        report(6, "6.events", `${p.status} payment ${p.id}: ${problems.join(", ")} (events ${JSON.stringify(t)})`);
      }
    }
  }

  if (hasDeliveries && hasAccountEvents) await checkDeliveries(sql, report);
  return finish(violations, counts, perCheckMax);
}

/** Every notified event reached its recipients once: no duplicate, nothing missing, nothing in limbo. */
async function checkDeliveries(
  sql: Sql,
  report: (invariant: InvariantId, check: string, message: string) => void,
): Promise<void> {
  const events = await sql<{ event_id: string; topic: string }[]>`
    select event_id, topic from accounts.outbox where topic = any(${Object.keys(NOTIFIED_ROLES)})`;
  const deliveries = await sql<DeliveryRow[]>`
    select event_id, recipient, event_type, payment_id, status from notifications.deliveries`;
  const byEvent = new Map<string, DeliveryRow[]>();
  const logical = new Map<string, number>();
  for (const d of deliveries) {
    byEvent.set(d.event_id, [...byEvent.get(d.event_id) ?? [], d]);
    const k = `${d.payment_id} ${d.event_type} ${d.recipient}`;
    logical.set(k, (logical.get(k) ?? 0) + 1);
    if (d.status === "sending" || d.status === "failed") {
      report("notify", "notify.limbo", `notice ${d.event_id}/${d.recipient} is still ${d.status}`);
    }
  }
  for (const [k, n] of logical) if (n > 1) report("notify", "notify.twice", `${k}: ${n} notices`);
  const known = new Set(events.map((e) => e.event_id));
  for (const e of events) {
    const got = (byEvent.get(e.event_id) ?? []).map((d) => d.recipient).sort().join(",");
    const want = [...NOTIFIED_ROLES[e.topic]!].sort().join(",");
    if (got !== want) {
      report("notify", "notify.missing", `${e.topic} ${e.event_id}: notices for [${got}], want [${want}]`);
    }
  }
  for (const d of deliveries) {
    if (!known.has(d.event_id)) report("notify", "notify.orphan", `notice for unknown event ${d.event_id}`);
  }
}

function finish(
  violations: Violation[],
  counts: ReadonlyMap<string, { invariant: InvariantId; n: number }>,
  perCheckMax: number,
): Violation[] {
  for (const [check, { invariant, n }] of counts) {
    if (n > perCheckMax) violations.push({ invariant, message: `${check}: ${n - perCheckMax} more not shown` });
  }
  return violations;
}

function paymentIdOf(topic: string, payload: Uint8Array): string {
  if (!isTopic(topic)) throw new TypeError(`Cannot read an event as its topic is unknown: ${topic}`);
  return decodeEvent(topic, payload).paymentId;
}

function countByPayment(rows: readonly { topic: string; payload: Uint8Array }[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of rows) {
    const id = paymentIdOf(r.topic, r.payload);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

async function hasUniqueIndex(sql: Sql, relation: string, columns: readonly string[]): Promise<boolean> {
  const rows = await sql<{ cols: string[] }[]>`
    select array(select a.attname::text from unnest(i.indkey) k join pg_attribute a
                 on a.attrelid = i.indrelid and a.attnum = k) as cols
    from pg_index i where i.indrelid = ${relation}::regclass and i.indisunique and i.indpred is null`;
  const want = [...columns].sort().join(",");
  return rows.some((r) => [...r.cols].sort().join(",") === want);
}

function iso(d: Date): string {
  return d instanceof Date ? d.toISOString() : String(d);
}

/** One line per violation, for assertion messages. */
export function formatViolations(violations: readonly Violation[]): string {
  return violations.map((v) => `invariant ${v.invariant}: ${v.message}`).join("\n");
}
