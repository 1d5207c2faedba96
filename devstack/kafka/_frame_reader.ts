/**
 * Splits a TCP byte stream into Kafka request frames (int32 size, then
 * that many bytes). A size outside [header minimum, frameBytesMax] ends the
 * connection before any allocation, so a forged size cannot exhaust memory.
 */

/** The smallest request header: api key, version, correlation id, client id length. */
const HEADER_BYTES_MIN = 10;
const READ_CHUNK_BYTES = 64 << 10;

export class FrameError extends Error {
  override name = "FrameError";
}

export class FrameReader {
  #source: { read(buffer: Uint8Array): Promise<number | null> };
  #frameBytesMax: number;
  #buffer = new Uint8Array(READ_CHUNK_BYTES);
  #start = 0;
  #end = 0;

  constructor(source: { read(buffer: Uint8Array): Promise<number | null> }, frameBytesMax: number) {
    this.#source = source;
    this.#frameBytesMax = frameBytesMax;
  }

  /** The next whole frame (a private copy), or null at a clean end of stream. */
  async next(): Promise<Uint8Array | null> {
    while (true) {
      const available = this.#end - this.#start;
      if (available >= 4) {
        const size = new DataView(this.#buffer.buffer, this.#start, 4).getInt32(0);
        if (size < HEADER_BYTES_MIN || size > this.#frameBytesMax) {
          throw new FrameError(
            `Cannot read request as its frame size is out of bounds: ${size} not in [${HEADER_BYTES_MIN}, ${this.#frameBytesMax}]`,
          );
        }
        if (available >= 4 + size) {
          const frame = this.#buffer.slice(this.#start + 4, this.#start + 4 + size);
          this.#start += 4 + size;
          if (this.#start === this.#end) {
            this.#start = this.#end = 0;
            // Give back the memory of one huge frame instead of holding it per connection.
            if (this.#buffer.byteLength > 4 * READ_CHUNK_BYTES) this.#buffer = new Uint8Array(READ_CHUNK_BYTES);
          }
          return frame;
        }
        this.#makeRoom(4 + size);
      } else {
        this.#makeRoom(4);
      }
      const read = await this.#source.read(this.#buffer.subarray(this.#end));
      if (read === null) {
        if (this.#end > this.#start) throw new FrameError("Cannot read request as the stream ended inside a frame");
        return null;
      }
      this.#end += read;
    }
  }

  /** Ensures the buffer can hold `frameBytes` from #start and has free space to read into. */
  #makeRoom(frameBytes: number): void {
    const available = this.#end - this.#start;
    const capacity = Math.max(frameBytes, READ_CHUNK_BYTES);
    if (this.#buffer.byteLength < capacity) {
      const next = new Uint8Array(capacity);
      next.set(this.#buffer.subarray(this.#start, this.#end));
      this.#buffer = next;
    } else if (
      this.#start > 0 &&
      (this.#start + frameBytes > this.#buffer.byteLength || this.#buffer.byteLength - this.#end < READ_CHUNK_BYTES / 4)
    ) {
      this.#buffer.copyWithin(0, this.#start, this.#end);
    } else {
      return;
    }
    this.#start = 0;
    this.#end = available;
  }
}
