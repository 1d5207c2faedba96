/**
 * Big-endian readers and writers for the non-flexible Kafka wire encoding:
 * fixed-width integers, int16-length strings and int32-length bytes and
 * arrays. Every read is bounds-checked so a hostile frame becomes a
 * `DecodeError` (and a closed connection), never an out-of-range read.
 */

/** A request body could not be parsed; the connection that sent it is closed. */
export class DecodeError extends Error {
  override name = "DecodeError";
}

const textDecoder = new TextDecoder("utf-8", { fatal: false });
const textEncoder = new TextEncoder();

/** Reads one request body front to back. */
export class Reader {
  #view: DataView;
  #bytes: Uint8Array;
  offset = 0;

  constructor(bytes: Uint8Array, offset = 0) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
  }

  get remaining(): number {
    return this.#bytes.byteLength - this.offset;
  }

  #need(count: number): number {
    const at = this.offset;
    if (count < 0 || at + count > this.#bytes.byteLength) {
      throw new DecodeError(
        `Cannot decode request as it is truncated: need ${count} bytes at ${at}, have ${this.remaining}`,
      );
    }
    this.offset = at + count;
    return at;
  }

  int8(): number {
    return this.#view.getInt8(this.#need(1));
  }

  int16(): number {
    return this.#view.getInt16(this.#need(2));
  }

  int32(): number {
    return this.#view.getInt32(this.#need(4));
  }

  /** int64 as a number; offsets and timestamps stay far below 2^53. */
  int64(): number {
    const big = this.#view.getBigInt64(this.#need(8));
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new DecodeError(`Cannot decode int64 as it exceeds 2^53: ${big}`);
    }
    return Number(big);
  }

  boolean(): boolean {
    return this.int8() !== 0;
  }

  nullableString(): string | null {
    const length = this.int16();
    if (length === -1) return null;
    if (length < -1) throw new DecodeError(`Cannot decode string as its length is negative: ${length}`);
    const at = this.#need(length);
    return textDecoder.decode(this.#bytes.subarray(at, at + length));
  }

  string(): string {
    const value = this.nullableString();
    if (value === null) throw new DecodeError("Cannot decode string as it is null where a value is required");
    return value;
  }

  nullableBytes(): Uint8Array | null {
    const length = this.int32();
    if (length === -1) return null;
    if (length < -1) throw new DecodeError(`Cannot decode bytes as their length is negative: ${length}`);
    const at = this.#need(length);
    return this.#bytes.subarray(at, at + length);
  }

  bytes(): Uint8Array {
    return this.nullableBytes() ?? new Uint8Array(0);
  }

  /**
   * Reads an int32-counted array. The count is checked against the bytes
   * left (each element takes at least `minElementBytes`), so a forged count
   * cannot make the broker loop or allocate far beyond the frame it received.
   */
  nullableArray<T>(readElement: (reader: Reader) => T, minElementBytes = 1): T[] | null {
    const count = this.int32();
    if (count === -1) return null;
    if (count < -1 || count * minElementBytes > this.remaining) {
      throw new DecodeError(
        `Cannot decode array as its count does not fit the frame: count ${count}, ${this.remaining} bytes left`,
      );
    }
    const out: T[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = readElement(this);
    return out;
  }

  array<T>(readElement: (reader: Reader) => T, minElementBytes = 1): T[] {
    return this.nullableArray(readElement, minElementBytes) ?? [];
  }
}

/** Builds one response body in a growable buffer. */
export class Writer {
  #buffer: Uint8Array;
  #view: DataView;
  length = 0;

  constructor(initialBytes = 256) {
    this.#buffer = new Uint8Array(initialBytes);
    this.#view = new DataView(this.#buffer.buffer);
  }

  #reserve(count: number): number {
    const at = this.length;
    const needed = at + count;
    if (needed > this.#buffer.byteLength) {
      let size = this.#buffer.byteLength * 2;
      while (size < needed) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buffer.subarray(0, at));
      this.#buffer = next;
      this.#view = new DataView(next.buffer);
    }
    this.length = needed;
    return at;
  }

  int8(value: number): this {
    const at = this.#reserve(1);
    this.#view.setInt8(at, value);
    return this;
  }

  int16(value: number): this {
    const at = this.#reserve(2);
    this.#view.setInt16(at, value);
    return this;
  }

  int32(value: number): this {
    const at = this.#reserve(4);
    this.#view.setInt32(at, value);
    return this;
  }

  int64(value: number): this {
    const at = this.#reserve(8);
    this.#view.setBigInt64(at, BigInt(value));
    return this;
  }

  boolean(value: boolean): this {
    return this.int8(value ? 1 : 0);
  }

  nullableString(value: string | null): this {
    if (value === null) return this.int16(-1);
    const encoded = textEncoder.encode(value);
    this.int16(encoded.byteLength);
    // Reserve first: it may replace the buffer that `set` must write into.
    const at = this.#reserve(encoded.byteLength);
    this.#buffer.set(encoded, at);
    return this;
  }

  string(value: string): this {
    return this.nullableString(value);
  }

  nullableBytes(value: Uint8Array | null): this {
    if (value === null) return this.int32(-1);
    this.int32(value.byteLength);
    return this.raw(value);
  }

  bytes(value: Uint8Array): this {
    return this.nullableBytes(value);
  }

  raw(value: Uint8Array): this {
    const at = this.#reserve(value.byteLength);
    this.#buffer.set(value, at);
    return this;
  }

  array<T>(items: readonly T[], writeElement: (writer: this, item: T) => void): this {
    this.int32(items.length);
    for (const item of items) writeElement(this, item);
    return this;
  }

  /** Writes an int32 placeholder and returns a function that patches it later. */
  placeholderInt32(): (value: number) => void {
    const at = this.#reserve(4);
    return (value) => this.#view.setInt32(at, value);
  }

  /** The bytes written so far; a view, valid until the next write. */
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.length);
  }
}
