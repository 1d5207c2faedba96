/**
 * Embedded PostgreSQL for `deno task dev`: PGlite (real Postgres compiled to
 * WASM, data on disk) served over the Postgres wire protocol on 127.0.0.1,
 * so that the four programs connect with their ordinary `DATABASE_URL`.
 *
 * PGlite is ONE backend session. Several client connections share it through
 * a lock that a connection holds for a whole protocol unit: from its first
 * message until PGlite answers ReadyForQuery with status idle. A transaction
 * (status `T` or `E`) or an extended-query batch not yet ended by Sync keeps
 * the lock, so no other connection's Parse/Bind/Execute can land inside it.
 *
 * Why not `PGLiteSocketServer` from `@electric-sql/pglite-socket` 0.2.17: its
 * multiplexer queues single messages and only keeps explicit transaction
 * blocks together, so the Parse of one connection's unnamed statement can be
 * replaced by another's before its Bind arrives; with postgres.js (which
 * pipelines Parse/Bind/Describe/Execute/Sync) concurrent queries then ran the
 * wrong statement with their own parameters, and mixed transactional load
 * stalled for good. Both reproduced in embedded_postgres_test.ts's history.
 *
 * Consequences every program must respect (true for any single-session
 * database): session state (SET, prepared statement names) is shared, so
 * programs run with `DATABASE_PREPARED_STATEMENTS=false`; and a transaction
 * must never wait on another program (for example a gRPC call) while open,
 * or both wait until the idle-in-transaction bound ends the transaction.
 */

import { PGlite } from "@electric-sql/pglite";

export interface EmbeddedPostgresOptions {
  /** Directory of the database files; created when missing. */
  dataDir: string;
  /** Default 127.0.0.1. */
  hostname?: string;
  /** 0 picks a free port. */
  port: number;
  /**
   * How long a connection may hold the session while idle in a transaction
   * (or mid-batch) before it is disconnected and its transaction rolled
   * back; the equivalent of `idle_in_transaction_session_timeout`.
   */
  idleInTransactionMs?: number;
  /** Connections beyond this are refused. */
  maxConnections?: number;
  /** Called for events worth a line in the dev log. */
  onEvent?: (message: string) => void;
}

export interface EmbeddedPostgres extends AsyncDisposable {
  readonly port: number;
  /** `postgres://postgres@127.0.0.1:<port>/postgres` */
  readonly url: string;
  close(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const PROTOCOL_3 = 196608;
/** A startup or regular message longer than this is refused: no dev query needs it. */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const SYNC = new Uint8Array([0x53, 0, 0, 0, 4]);

/** FIFO mutex whose owner is a connection id; re-entrant for the owner. */
class SessionLock {
  #owner: number | undefined;
  #waiters: { id: number; resolve: () => void }[] = [];

  get owner(): number | undefined {
    return this.#owner;
  }

  acquire(id: number): Promise<void> {
    if (this.#owner === id) return Promise.resolve();
    if (this.#owner === undefined) {
      this.#owner = id;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push({ id, resolve }));
  }

  release(id: number): void {
    if (this.#owner !== id) return;
    const next = this.#waiters.shift();
    this.#owner = next?.id;
    next?.resolve();
  }

  /** Removes a connection that gave up waiting. */
  abandon(id: number): void {
    this.#waiters = this.#waiters.filter((w) => w.id !== id);
  }

  /** Wakes every waiter; used at close, when the session ends anyway. */
  wakeAll(): void {
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }
}

/**
 * The ReadyForQuery status of the last `Z` message in `bytes`, or undefined
 * when there is none (the batch is not finished yet).
 */
export function lastReadyStatus(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let status: string | undefined;
  let offset = 0;
  while (offset + 5 <= bytes.length) {
    const type = bytes[offset]!;
    const length = view.getInt32(offset + 1);
    if (length < 4) break;
    if (type === 0x5a && length === 5 && offset + 6 <= bytes.length) status = String.fromCharCode(bytes[offset + 5]!);
    offset += 1 + length;
  }
  return status;
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  let written = 0;
  while (written < bytes.length) written += await conn.write(bytes.subarray(written));
}

/** Opens (or creates) the database in `dataDir` and serves it. */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const hostname = options.hostname ?? "127.0.0.1";
  const idleMs = options.idleInTransactionMs ?? 30_000;
  const maxConnections = options.maxConnections ?? 64;
  const onEvent = options.onEvent ?? (() => {});
  // Bind first: a taken port is the likeliest failure and should not cost a database start.
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname, port: options.port });
  } catch (error) {
    throw new Error(`Cannot start the embedded PostgreSQL as ${hostname}:${options.port} is unavailable`, {
      cause: error,
    });
  }
  const port = (listener.addr as Deno.NetAddr).port;
  let db: PGlite;
  try {
    await Deno.mkdir(options.dataDir, { recursive: true });
    db = await PGlite.create(options.dataDir);
  } catch (error) {
    listener.close();
    throw new Error(`Cannot open the embedded PostgreSQL data in ${options.dataDir}`, { cause: error });
  }
  const lock = new SessionLock();
  const conns = new Map<number, Deno.Conn>();
  const served = new Set<Promise<void>>();
  let nextId = 1;
  let closing = false;

  const exec = (message: Uint8Array) => db.runExclusive(() => db.execProtocolRaw(message, { syncToFs: false }));

  /** Leaves the shared session clean after a connection vanished while owning it. */
  const resetSession = async (id: number) => {
    if (lock.owner !== id) {
      lock.abandon(id);
      return;
    }
    try {
      if (!closing) {
        await exec(SYNC);
        // exec takes PGlite's own mutex, so it must not run inside runExclusive.
        if (db.isInTransaction()) await db.exec("rollback");
      }
    } catch (error) {
      onEvent(`could not reset the session after a disconnect: ${(error as Error).message}`);
    } finally {
      lock.release(id);
    }
  };

  const serve = async (id: number, conn: Deno.Conn) => {
    let buffer = new Uint8Array(0);
    let started = false;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const reader = conn.readable.getReader();
    try {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        const joined = new Uint8Array(buffer.length + value.length);
        joined.set(buffer);
        joined.set(value, buffer.length);
        buffer = joined;
        while (true) {
          const headerBytes = started ? 5 : 4;
          if (buffer.length < headerBytes) break;
          const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
          const length = started ? 1 + view.getInt32(1) : view.getInt32(0);
          if (length < headerBytes - (started ? 1 : 0) || length > MAX_MESSAGE_BYTES) {
            throw new Error(`a message declared an invalid length: ${length}`);
          }
          if (buffer.length < length) break;
          const message = buffer.slice(0, length);
          buffer = buffer.slice(length);
          if (!started) {
            const code = length >= 8 ? view.getInt32(4) : 0;
            if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
              await writeAll(conn, new TextEncoder().encode("N"));
              continue;
            }
            if (code === CANCEL_REQUEST) return; // PGlite has no backend to signal.
            if (code !== PROTOCOL_3) throw new Error(`unsupported protocol version ${code}`);
            started = true;
          } else if (message[0] === 0x58) {
            return; // Terminate: the finally block cleans up.
          }
          clearTimeout(idleTimer);
          await lock.acquire(id);
          if (closing) return;
          const response = await exec(message);
          if (response.length > 0) await writeAll(conn, response);
          const status = lastReadyStatus(response);
          if (status === "I") {
            lock.release(id);
          } else {
            // Holding the session between messages: bound it so that one
            // forgotten transaction cannot stop every program.
            idleTimer = setTimeout(() => {
              onEvent(`connection ${id} idle in a transaction for ${idleMs} ms; disconnecting it`);
              try {
                conn.close();
              } catch {
                // Already closed.
              }
            }, idleMs);
          }
        }
      }
    } catch (error) {
      if (!closing && !(error instanceof Deno.errors.BadResource) && !(error instanceof Deno.errors.ConnectionReset)) {
        onEvent(`connection ${id} failed: ${(error as Error).message}`);
      }
    } finally {
      clearTimeout(idleTimer);
      reader.releaseLock();
      conns.delete(id);
      try {
        conn.close();
      } catch {
        // Already closed.
      }
      await resetSession(id);
    }
  };

  const accepting = (async () => {
    for await (const conn of listener) {
      if (conns.size >= maxConnections) {
        onEvent(`refused a connection as ${maxConnections} are open`);
        conn.close();
        continue;
      }
      conn.setNoDelay(true);
      const id = nextId++;
      conns.set(id, conn);
      const done = serve(id, conn).finally(() => served.delete(done));
      served.add(done);
    }
  })().catch((error) => {
    if (!closing) onEvent(`stopped accepting connections: ${(error as Error).message}`);
  });

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      closing = true;
      listener.close();
      await accepting;
      lock.wakeAll();
      for (const conn of conns.values()) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await Promise.allSettled([...served]);
      await db.close();
    })();
    return closed;
  };

  return {
    port,
    url: `postgres://postgres@${hostname}:${port}/postgres`,
    close,
    [Symbol.asyncDispose]: close,
  };
}
