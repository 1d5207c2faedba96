/**
 * PostgreSQL access through postgres.js, and the migration runner every
 * service uses at start.
 *
 * int8 columns come back as JavaScript numbers: money never exceeds
 * Number.MAX_SAFE_INTEGER (the schemas enforce it), and a value that would
 * is a corrupted row, so parsing throws instead of rounding.
 */

import postgres from "postgres";

export type Sql = postgres.Sql<{ bigint: number }>;
export type TransactionSql = postgres.TransactionSql<{ bigint: number }>;
/** Either a pool or a transaction, for store functions that work in both. */
export type Queryable = Sql | TransactionSql;

export interface PostgresOptions {
  /** Connection pool size. */
  maxConnections?: number;
  /** Named prepared statements; off for poolers and the embedded dev server. */
  prepare?: boolean;
  /** Seconds to wait for a connection. */
  connectTimeoutSeconds?: number;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
  /**
   * Bounds on the server side, so that no statement, lock wait or abandoned
   * transaction can hold a consumer's partition for longer: a connection
   * that died mid-transaction otherwise keeps its locks until the kernel
   * notices, which can take hours.
   */
  statementTimeoutMs?: number;
  lockTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
}

/** The largest amount or balance the platform stores: 2^53 - 1 minor units. */
export const MAX_SAFE_MINOR = Number.MAX_SAFE_INTEGER;

function parseInt8(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) {
    throw new RangeError(`Cannot read int8 as it exceeds the safe integer range: ${text}`);
  }
  return n;
}

export interface Postgres extends AsyncDisposable {
  readonly sql: Sql;
  /** Resolves when a trivial query answers; used by readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Opens a pool. No connection is made until the first query. */
export function connectPostgres(url: string, options: PostgresOptions = {}): Postgres {
  const sql = postgres(url, {
    max: options.maxConnections ?? 10,
    prepare: options.prepare ?? true,
    connect_timeout: options.connectTimeoutSeconds ?? 10,
    idle_timeout: 60,
    onnotice: false,
    connection: {
      application_name: options.applicationName ?? "securepay",
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      lock_timeout: options.lockTimeoutMs ?? 10_000,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 60_000,
    },
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: parseInt8 },
    },
  }) as unknown as Sql;
  const close = async () => {
    await sql.end({ timeout: 5 });
  };
  return {
    sql,
    async ping() {
      await sql`select 1`;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** True for a unique-constraint violation, optionally of one named constraint. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint_name?: string; constraint?: string };
  if (e?.code !== "23505") return false;
  return constraint === undefined || e.constraint_name === constraint || e.constraint === constraint;
}

/** True for a CHECK violation, optionally of one named constraint. */
export function isCheckViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint_name?: string; constraint?: string };
  if (e?.code !== "23514") return false;
  return constraint === undefined || e.constraint_name === constraint || e.constraint === constraint;
}
