/**
 * One client connection. A reader task splits frames into a bounded queue
 * (at most `inFlightRequestsMax` waiting; beyond that the socket is simply
 * not read, so TCP pushes back); a processor task answers them strictly in
 * order, one at a time, as a Kafka broker does per connection.
 */

import { DecodeError, Reader, Writer } from "./_codec.ts";
import type { BrokerState, Handler, RequestHeader } from "./_context.ts";
import { FrameReader } from "./_frame_reader.ts";
import { apiVersionsBody } from "./_handle_cluster.ts";
import { ApiKey, ErrorCode, isSupported } from "./_protocol.ts";

export interface ConnectionLimits {
  frameBytesMax: number;
  inFlightRequestsMax: number;
}

export class Connection {
  #conn: Deno.TcpConn;
  #state: BrokerState;
  #handlers: ReadonlyMap<number, Handler>;
  #limits: ConnectionLimits;
  #log: (line: string) => void;
  #queue: Uint8Array[] = [];
  #readerDone = false;
  #closed = false;
  /** Wakes the processor (new frame or end) or the reader (room in the queue). */
  #wakeProcessor: (() => void) | null = null;
  #wakeReader: (() => void) | null = null;
  readonly clientHost: string;

  constructor(
    conn: Deno.TcpConn,
    state: BrokerState,
    options: { handlers: ReadonlyMap<number, Handler>; limits: ConnectionLimits; log: (line: string) => void },
  ) {
    this.#conn = conn;
    this.#state = state;
    this.#handlers = options.handlers;
    this.#limits = options.limits;
    this.#log = options.log;
    const remote = conn.remoteAddr as Deno.NetAddr;
    this.clientHost = `/${remote.hostname}`;
    try {
      conn.setNoDelay(true);
    } catch {
      // Not every socket supports it; latency is only slightly worse without.
    }
  }

  /** Serves the connection until either side closes it. */
  async run(): Promise<void> {
    await Promise.all([this.#readLoop(), this.#processLoop()]);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer or by a failed write.
    }
    this.#wakeReader?.();
    this.#wakeProcessor?.();
  }

  async #readLoop(): Promise<void> {
    const frames = new FrameReader(this.#conn, this.#limits.frameBytesMax);
    try {
      while (!this.#closed) {
        const frame = await frames.next();
        if (frame === null) break;
        while (this.#queue.length >= this.#limits.inFlightRequestsMax && !this.#closed) {
          await new Promise<void>((resolve) => this.#wakeReader = resolve);
          this.#wakeReader = null;
        }
        this.#queue.push(frame);
        this.#wakeProcessor?.();
      }
    } catch (error) {
      // Oversized or torn frames, resets and reads after close all end this connection only.
      if (!this.#closed && !isExpectedNetworkError(error)) this.#log(`kafka: closing connection: ${describe(error)}`);
      this.close();
    } finally {
      this.#readerDone = true;
      this.#wakeProcessor?.();
    }
  }

  /**
   * Answers frames in arrival order. Produce requests are the one
   * exception to one-at-a-time: each appends synchronously when it starts,
   * so the next Produce may start while earlier ones wait for their fsync,
   * letting pipelined acks=-1 requests share one fsync. Responses still go
   * out strictly in request order, and any other request first waits for
   * everything before it, as on a Kafka connection.
   */
  async #processLoop(): Promise<void> {
    let answered: Promise<boolean> = Promise.resolve(true);
    let unanswered = 0;
    while (true) {
      while (this.#queue.length === 0 && !this.#readerDone && !this.#closed) {
        await new Promise<void>((resolve) => this.#wakeProcessor = resolve);
        this.#wakeProcessor = null;
      }
      const frame = this.#queue.shift();
      if (frame === undefined || this.#closed) break;
      this.#wakeReader?.();
      const isProduce = frame.byteLength >= 2 && ((frame[0]! << 8) | frame[1]!) === ApiKey.Produce;
      if (!isProduce || unanswered >= this.#limits.inFlightRequestsMax) {
        if (!(await answered)) return;
      }
      unanswered++;
      const response = this.#handle(frame);
      // Its failure is handled in order by #answer; this only stops it counting as unhandled meanwhile.
      response.catch(() => {});
      const previous = answered;
      answered = (async () => {
        const ok = await previous;
        unanswered--;
        return ok && await this.#answer(response);
      })();
      if (!isProduce && !(await answered)) return;
    }
    await answered;
  }

  /** Writes one response once it is ready; false when the connection must end. */
  async #answer(pending: Promise<Uint8Array | null>): Promise<boolean> {
    let response: Uint8Array | null;
    try {
      response = await pending;
    } catch (error) {
      // A malformed body means the client and broker disagree on framing;
      // Kafka closes the connection then, and so does this broker.
      if (!(error instanceof DecodeError)) this.#log(`kafka: request failed: ${describe(error)}`);
      this.close();
      return false;
    }
    if (response === null || this.#closed) return !this.#closed;
    try {
      let written = 0;
      while (written < response.byteLength) written += await this.#conn.write(response.subarray(written));
      return true;
    } catch {
      this.close();
      return false;
    }
  }

  async #handle(frame: Uint8Array): Promise<Uint8Array | null> {
    const reader = new Reader(frame);
    const header: RequestHeader = {
      apiKey: reader.int16(),
      apiVersion: reader.int16(),
      correlationId: reader.int32(),
      clientId: reader.nullableString(),
    };
    let body: Writer | null;
    if (!isSupported(header.apiKey, header.apiVersion)) {
      body = header.apiKey === ApiKey.ApiVersions
        ? apiVersionsBody(0, ErrorCode.UnsupportedVersion)
        : new Writer(2).int16(ErrorCode.UnsupportedVersion);
    } else {
      const handler = this.#handlers.get(header.apiKey)!;
      body = await handler({ header, state: this.#state, clientHost: this.clientHost }, reader);
    }
    if (body === null) return null;
    const bytes = body.finish();
    const out = new Uint8Array(8 + bytes.byteLength);
    const view = new DataView(out.buffer);
    view.setInt32(0, 4 + bytes.byteLength);
    view.setInt32(4, header.correlationId);
    out.set(bytes, 8);
    return out;
  }
}

function isExpectedNetworkError(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionReset || error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted || error instanceof Deno.errors.BrokenPipe;
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
