/**
 * A raw Kafka wire client for tests that need byte-level control: hand-made
 * RecordBatches, exact request versions, corrupt or hostile frames.
 */

import { Reader, Writer } from "./_codec.ts";
import { crc32c } from "./_crc32c.ts";

function varint(writer: Writer, value: number): void {
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  while (zigzag >= 0x80) {
    writer.int8((zigzag % 0x80) | 0x80);
    zigzag = Math.floor(zigzag / 0x80);
  }
  writer.int8(zigzag);
}

export interface BatchSpec {
  values: string[];
  producerId?: number;
  producerEpoch?: number;
  baseSequence?: number;
  timestamp?: number;
}

/** Encodes an uncompressed RecordBatch v2 with a correct CRC-32C. */
export function buildRecordBatch(spec: BatchSpec): Uint8Array {
  const records = new Writer(256);
  spec.values.forEach((value, i) => {
    const body = new Writer(64);
    body.int8(0); // attributes
    varint(body, 0); // timestamp delta
    varint(body, i); // offset delta
    varint(body, -1); // null key
    const bytes = new TextEncoder().encode(value);
    varint(body, bytes.byteLength);
    body.raw(bytes);
    varint(body, 0); // headers
    const encoded = body.finish();
    varint(records, encoded.byteLength);
    records.raw(encoded);
  });
  const timestamp = spec.timestamp ?? Date.now();
  const afterCrc = new Writer(256)
    .int16(0)
    .int32(spec.values.length - 1)
    .int64(timestamp)
    .int64(timestamp)
    .int64(spec.producerId ?? -1)
    .int16(spec.producerEpoch ?? 0)
    .int32(spec.baseSequence ?? -1)
    .int32(spec.values.length)
    .raw(records.finish())
    .finish()
    .slice();
  return new Writer(afterCrc.byteLength + 21)
    .int64(0)
    .int32(afterCrc.byteLength + 9)
    .int32(0)
    .int8(2)
    .int32(crc32c(afterCrc) | 0)
    .raw(afterCrc)
    .finish()
    .slice();
}

/** A Produce v7 request body for one partition. */
export function produceBody(topic: string, partition: number, batch: Uint8Array, acks = -1): Writer {
  return new Writer(batch.byteLength + 64)
    .nullableString(null)
    .int16(acks)
    .int32(5000)
    .int32(1)
    .string(topic)
    .int32(1)
    .int32(partition)
    .bytes(batch);
}

export function frame(apiKey: number, version: number, correlationId: number, body: Writer | Uint8Array): Uint8Array {
  const bytes = body instanceof Writer ? body.finish() : body;
  return new Writer(bytes.byteLength + 32)
    .int32(bytes.byteLength + 10 + 4)
    .int16(apiKey)
    .int16(version)
    .int32(correlationId)
    .string("wire")
    .raw(bytes)
    .finish()
    .slice();
}

export class WireClient implements AsyncDisposable {
  #conn: Deno.TcpConn;
  #buffer = new Uint8Array(0);
  #nextCorrelationId = 1;

  private constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  static async connect(port: number): Promise<WireClient> {
    return new WireClient(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.byteLength) written += await this.#conn.write(bytes.subarray(written));
  }

  /** Sends a request and returns the response body after the correlation id. */
  async request(apiKey: number, version: number, body: Writer | Uint8Array): Promise<Reader> {
    const correlationId = this.#nextCorrelationId++;
    await this.write(frame(apiKey, version, correlationId, body));
    const response = await this.readFrame();
    if (response === null) throw new Error(`Cannot read response as the broker closed the connection`);
    const reader = new Reader(response);
    const got = reader.int32();
    if (got !== correlationId) {
      throw new Error(`Cannot match response as its correlation id is ${got}, not ${correlationId}`);
    }
    return reader;
  }

  /** The next response frame, or null when the broker closed the connection. */
  async readFrame(timeoutMs = 10000): Promise<Uint8Array | null> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      if (this.#buffer.byteLength >= 4) {
        const size = new DataView(this.#buffer.buffer, this.#buffer.byteOffset).getInt32(0);
        if (this.#buffer.byteLength >= 4 + size) {
          const out = this.#buffer.slice(4, 4 + size);
          this.#buffer = this.#buffer.slice(4 + size);
          return out;
        }
      }
      if (Date.now() > deadline) throw new Error("Cannot read response as none arrived in time");
      const chunk = new Uint8Array(65536);
      let read: number | null;
      try {
        read = await this.#conn.read(chunk);
      } catch {
        return null;
      }
      if (read === null) return null;
      const next = new Uint8Array(this.#buffer.byteLength + read);
      next.set(this.#buffer);
      next.set(chunk.subarray(0, read), this.#buffer.byteLength);
      this.#buffer = next;
    }
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // Already closed.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/** Reads a Produce v7 response for one partition: [errorCode, baseOffset]. */
export function readProduceResult(reader: Reader): [number, number] {
  reader.int32(); // topics
  reader.string();
  reader.int32(); // partitions
  reader.int32();
  return [reader.int16(), reader.int64()];
}
