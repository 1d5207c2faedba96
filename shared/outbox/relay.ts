/**
 * The transactional outbox relay: publishes the committed rows of
 * `<schema>.outbox` to Kafka in id order and marks them sent.
 *
 * - One relay per schema publishes at a time: it holds a session advisory
 *   lock on a reserved connection; the others retry the lock and take over
 *   when the holder's session ends, so the order per key survives replicas.
 * - Publishing is at least once: rows are marked sent only after the
 *   producer acknowledged them, and a crash in between publishes them again
 *   (consumers dedupe by `ce_id`). No transaction is open while publishing.
 * - Low latency: an insert trigger's NOTIFY on `<schema>_outbox` wakes the
 *   relay; polling every `pollMs` covers a lost notification or a database
 *   without LISTEN (the embedded dev one).
 */

import { Buffer } from "node:buffer";
import type postgres from "postgres";
import type { Sql } from "../db.ts";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics.ts";
import type { EventProducer, OutgoingRecord } from "../kafka/types.ts";

export interface OutboxRelayOptions {
  sql: Sql;
  /** The schema whose `outbox` table is relayed, e.g. "payments". */
  schema: string;
  producer: EventProducer;
  logger: Logger;
  metrics?: MetricsRegistry;
  /** Rows published per batch at most. Default 500. */
  batchMax?: number;
  /** Polling interval when no notification arrives. Default 250. */
  pollMs?: number;
  /** How often a standby relay tries to take over the lock. Default 1000. */
  lockRetryMs?: number;
  /** Longest pause between attempts after failures. Default 5000. */
  backoffMaxMs?: number;
  /** Listen for the insert trigger's notifications. Default true. */
  listen?: boolean;
  /** How long close() may take. Default 10000. */
  closeTimeoutMs?: number;
}

export interface OutboxRelay extends AsyncDisposable {
  /** Rows not yet published (all replicas together). */
  lag(): Promise<number>;
  /** True while this relay holds the schema's lock and publishes. */
  readonly active: boolean;
  close(): Promise<void>;
}

const SCHEMA = /^[a-z_][a-z0-9_]{0,50}$/;
const LISTEN_TIMEOUT_MS = 3000;
const GAUGE_INTERVAL_MS = 1000;
/** How long the relay waits for a pool connection before it retries. */
const RESERVE_TIMEOUT_MS = 10_000;

/** The NOTIFY channel of a schema's outbox. */
export function outboxChannel(schema: string): string {
  checkSchema(schema);
  return `${schema}_outbox`;
}

/** The outbox table every service with events has (same shape in each schema). */
export function outboxTableSql(schema: string): string {
  checkSchema(schema);
  return `create table ${schema}.outbox (
  id bigserial primary key,
  topic text not null,
  key text not null,
  event_id uuid not null unique,
  event_type text not null,
  payload bytea not null,
  headers jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  sent_at timestamptz
);

create index outbox_unsent_idx on ${schema}.outbox (id) where sent_at is null;
`;
}

/**
 * The migration that wakes the relay: one NOTIFY per inserting statement,
 * delivered when its transaction commits (several in one transaction fold
 * into one).
 */
export function outboxNotifySql(schema: string): string {
  const channel = outboxChannel(schema);
  return `create function ${schema}.outbox_notify() returns trigger
language plpgsql as $$
begin
  perform pg_notify('${channel}', '');
  return null;
end;
$$;

create trigger outbox_notify
  after insert on ${schema}.outbox
  for each statement execute function ${schema}.outbox_notify();
`;
}

function checkSchema(schema: string): void {
  if (!SCHEMA.test(schema)) throw new TypeError(`Cannot relay an outbox as the schema name is invalid: ${schema}`);
}

type Reserved = postgres.ReservedSql<{ bigint: number }>;

interface OutboxRow {
  id: number;
  topic: string;
  key: string;
  payload: Uint8Array;
  headers: Record<string, unknown> | null;
  created_at: Date;
  pid: number;
}

/** Starts relaying; resolves once the relay listens (or gave up listening) and runs. */
export async function startOutboxRelay(options: OutboxRelayOptions): Promise<OutboxRelay> {
  const { sql, schema, producer } = options;
  checkSchema(schema);
  const batchMax = bounded("batchMax", options.batchMax ?? 500, 1, 10_000);
  const pollMs = bounded("pollMs", options.pollMs ?? 250, 1, 60_000);
  const lockRetryMs = bounded("lockRetryMs", options.lockRetryMs ?? 1000, 1, 60_000);
  const backoffMaxMs = bounded("backoffMaxMs", options.backoffMaxMs ?? 5000, 1, 600_000);
  const closeTimeoutMs = bounded("closeTimeoutMs", options.closeTimeoutMs ?? 10_000, 1, 600_000);
  const logger = options.logger.with({ outbox: schema });
  const labels = { schema };
  const published = options.metrics?.counter("outbox_published_total", "Outbox rows published to Kafka");
  const failures = options.metrics?.counter("outbox_publish_failures_total", "Failed outbox publish attempts");
  const unsent = options.metrics?.gauge("outbox_unsent_rows", "Outbox rows not yet published");
  const delay = options.metrics?.histogram(
    "outbox_publish_delay_seconds",
    "Time from an outbox row's insert to Kafka's acknowledgement",
  );
  const lockKey = `securepay.outbox.${schema}`;
  const table = sql(schema);

  let stopped = false;
  let active = false;
  let woken = false;
  const sleepers = new Set<{ wakeable: boolean; done(): void }>();
  const signal = () => {
    woken = true;
    for (const sleeper of sleepers) if (sleeper.wakeable) sleeper.done();
  };
  /** Sleeps `ms`, or less when stopping or (if `wakeable`) when a notification arrives. */
  const sleep = (ms: number, wakeable: boolean) =>
    new Promise<void>((resolve) => {
      if (stopped || (wakeable && woken)) return resolve();
      const sleeper = {
        wakeable,
        done() {
          clearTimeout(timer);
          sleepers.delete(sleeper);
          resolve();
        },
      };
      const timer = setTimeout(sleeper.done, ms);
      sleepers.add(sleeper);
    });
  const backoff = (attempt: number) => Math.min(100 * 2 ** Math.min(attempt, 16), backoffMaxMs);

  let listening: Promise<{ unlisten(): Promise<void> } | undefined> = Promise.resolve(undefined);
  if (options.listen ?? true) {
    listening = sql.listen(outboxChannel(schema), signal, signal).catch((error) => {
      logger.warn("Outbox relay cannot LISTEN; polling only", { error, poll_ms: pollMs });
      return undefined;
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([listening, new Promise((resolve) => timer = setTimeout(resolve, LISTEN_TIMEOUT_MS))]);
    clearTimeout(timer);
  }

  let gaugeAt = 0;
  const refreshGauge = async (force: boolean) => {
    if (!unsent || (!force && Date.now() - gaugeAt < GAUGE_INTERVAL_MS)) return;
    gaugeAt = Date.now();
    unsent.set(await lag(), labels);
  };
  const lag = async () => {
    const [row] = await sql<{ n: number }[]>`select count(*)::int8 as n from ${table}.outbox where sent_at is null`;
    return row!.n;
  };

  /** Publishes while this relay holds the lock; returns when stopping, throws on a database error. */
  const lead = async (conn: Reserved, pid: number) => {
    let attempt = 0;
    while (!stopped) {
      woken = false;
      const rows = await conn<OutboxRow[]>`
        select id, topic, key, payload, headers, created_at, pg_backend_pid() as pid
          from ${table}.outbox where sent_at is null order by id limit ${batchMax}`;
      if (rows.length === 0) {
        await refreshGauge(false);
        await sleep(pollMs, true);
        continue;
      }
      // A reconnected session would no longer hold the lock, and another relay may be publishing.
      if (rows[0]!.pid !== pid) throw new Error("Cannot publish outbox rows as the relay's session lost its lock");
      try {
        await producer.send(rows.map(toRecord));
      } catch (error) {
        attempt++;
        failures?.inc(labels);
        logger.warn("Outbox publish failed; the rows stay unsent and are retried", {
          error,
          rows: rows.length,
          first_id: rows[0]!.id,
          attempt,
        });
        await sleep(backoff(attempt), false);
        continue;
      }
      attempt = 0;
      const ids = rows.map((r) => r.id);
      await conn`update ${table}.outbox set sent_at = now() where id = any(${ids}::int8[])`;
      const now = Date.now();
      published?.inc(labels, rows.length);
      for (const row of rows) delay?.observe((now - row.created_at.getTime()) / 1000, labels);
      await refreshGauge(rows.length < batchMax);
      if (rows.length < batchMax) await sleep(0, true);
    }
  };

  const run = async () => {
    let attempt = 0;
    while (!stopped) {
      let conn: Reserved | undefined;
      let locked = false;
      try {
        conn = await reserveWithin(sql, RESERVE_TIMEOUT_MS);
        const [lock] = await conn<{ locked: boolean; pid: number }[]>`
          select pg_try_advisory_lock(hashtextextended(${lockKey}, 0)) as locked, pg_backend_pid() as pid`;
        locked = lock!.locked;
        if (!locked) {
          conn.release();
          conn = undefined;
          await sleep(lockRetryMs, false);
          continue;
        }
        active = true;
        attempt = 0;
        logger.info("Outbox relay holds the lock and publishes");
        await lead(conn, lock!.pid);
      } catch (error) {
        attempt++;
        logger.warn("Outbox relay lost its database session; retrying", { error, attempt });
        await sleep(backoff(attempt), false);
      } finally {
        active = false;
        if (conn) {
          if (locked) {
            await conn`select pg_advisory_unlock(hashtextextended(${lockKey}, 0))`.catch(() => {});
          }
          conn.release();
        }
      }
    }
  };
  const running = run();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      stopped = true;
      for (const sleeper of sleepers) sleeper.done();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const finished = await Promise.race([
        Promise.all([running, listening.then((l) => l?.unlisten()).catch(() => {})]).then(() => true),
        new Promise<false>((resolve) => timer = setTimeout(() => resolve(false), closeTimeoutMs)),
      ]);
      clearTimeout(timer);
      if (!finished) logger.warn("Outbox relay did not stop in time", { timeout_ms: closeTimeoutMs });
    })();
    return closing;
  };

  return {
    lag,
    get active() {
      return active;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

async function reserveWithin(sql: Sql, ms: number): Promise<Reserved> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), ms);
  try {
    return await sql.reserve().signal(abort.signal);
  } finally {
    clearTimeout(timer);
  }
}

function bounded(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Cannot relay an outbox as ${name} must be an integer in [${min}, ${max}]: ${value}`);
  }
  return value;
}

function toRecord(row: OutboxRow): OutgoingRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(row.headers ?? {})) {
    if (value === null || value === undefined) continue;
    headers[name] = typeof value === "string" ? value : JSON.stringify(value);
  }
  const payload = row.payload instanceof Uint8Array ? row.payload : Buffer.from(row.payload);
  return { topic: row.topic, key: row.key, value: payload, headers };
}
