/**
 * One partition's append-only log: a single file of RecordBatch v2 batches
 * laid end to end, exactly as produced except for the broker-assigned
 * baseOffset. Only a sparse index (one entry per `indexIntervalBytes`)
 * lives in memory; Fetch reads byte ranges back from the file.
 */

import {
  BATCH_HEADER_BYTES,
  BATCH_LOG_OVERHEAD,
  type BatchHeader,
  hasValidCrc,
  readBatchHeader,
  writeBaseOffset,
} from "./_record_batch.ts";
import { ProducerStates } from "./_producer_state.ts";

export type FsyncPolicy = "always" | "interval" | "never";

export interface PartitionLogOptions {
  /** Bytes of log between two sparse index entries. */
  indexIntervalBytes: number;
  /** Largest batch accepted; larger lengths found while recovering mean corruption. */
  batchBytesMax: number;
  /** Idempotent producers remembered per partition. */
  producersMax: number;
}

export interface RecoveryReport {
  batches: number;
  truncatedBytes: number;
}

const RECOVERY_CHUNK_BYTES = 1 << 20;
const SCAN_CHUNK_BYTES = 32 << 10;

/** A growable pair of columns: first offset of a batch and its file position. */
class SparseIndex {
  offsets = new Float64Array(64);
  positions = new Float64Array(64);
  count = 0;

  add(offset: number, position: number): void {
    if (this.count === this.offsets.length) {
      const offsets = new Float64Array(this.count * 2);
      offsets.set(this.offsets);
      const positions = new Float64Array(this.count * 2);
      positions.set(this.positions);
      this.offsets = offsets;
      this.positions = positions;
    }
    this.offsets[this.count] = offset;
    this.positions[this.count] = position;
    this.count++;
  }

  /** Position of the last indexed batch starting at or before `offset` (0 if none). */
  floor(offset: number): number {
    let low = 0;
    let high = this.count - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.offsets[mid]! <= offset) {
        found = mid;
        low = mid + 1;
      } else {
        high = mid - 1;
      }
    }
    return found < 0 ? 0 : this.positions[found]!;
  }
}

export class PartitionLog {
  readonly path: string;
  readonly producers: ProducerStates;
  logStartOffset = 0;
  logEndOffset = 0;
  #file: Deno.FsFile;
  #sizeBytes = 0;
  #syncedBytes = 0;
  #syncing: Promise<void> | null = null;
  #index = new SparseIndex();
  #lastIndexedPosition = -Infinity;
  #options: PartitionLogOptions;
  #closed = false;

  private constructor(path: string, file: Deno.FsFile, options: PartitionLogOptions) {
    this.path = path;
    this.#file = file;
    this.#options = options;
    this.producers = new ProducerStates(options.producersMax);
  }

  /**
   * Opens (creating if needed) the log at `path` and recovers it: every
   * batch is checked (length, magic, contiguous offsets, CRC-32C) and the
   * file is truncated at the first batch that fails, which is where a crash
   * tore the tail.
   */
  static open(path: string, options: PartitionLogOptions): { log: PartitionLog; recovery: RecoveryReport } {
    const file = Deno.openSync(path, { read: true, write: true, create: true });
    const log = new PartitionLog(path, file, options);
    try {
      const recovery = log.#recover();
      return { log, recovery };
    } catch (error) {
      file.close();
      throw error;
    }
  }

  #recover(): RecoveryReport {
    const fileBytes = this.#file.statSync().size;
    let position = 0;
    let nextOffset = 0;
    let batches = 0;
    let chunk: Uint8Array = new Uint8Array(0);
    let chunkStart = 0;
    while (position + BATCH_HEADER_BYTES <= fileBytes) {
      if (position + BATCH_HEADER_BYTES > chunkStart + chunk.byteLength) {
        chunk = this.#readAt(position, Math.min(RECOVERY_CHUNK_BYTES, fileBytes - position));
        chunkStart = position;
      }
      const header = readBatchHeader(chunk, position - chunkStart);
      const sane = header.magic === 2 && header.sizeBytes >= BATCH_HEADER_BYTES &&
        header.sizeBytes <= this.#options.batchBytesMax + BATCH_LOG_OVERHEAD &&
        position + header.sizeBytes <= fileBytes && header.baseOffset === nextOffset &&
        header.lastOffsetDelta >= 0;
      if (!sane) break;
      if (position + header.sizeBytes > chunkStart + chunk.byteLength) {
        chunk = this.#readAt(
          position,
          Math.max(header.sizeBytes, Math.min(RECOVERY_CHUNK_BYTES, fileBytes - position)),
        );
        chunkStart = position;
      }
      if (!hasValidCrc(chunk, position - chunkStart, header)) break;
      this.#indexBatch(header.baseOffset, position);
      this.producers.record(header, header.baseOffset);
      nextOffset = header.baseOffset + header.lastOffsetDelta + 1;
      position += header.sizeBytes;
      batches++;
    }
    const truncatedBytes = fileBytes - position;
    if (truncatedBytes > 0) {
      this.#file.truncateSync(position);
      this.#file.syncDataSync();
    }
    this.#sizeBytes = position;
    this.#syncedBytes = position;
    this.logEndOffset = nextOffset;
    return { batches, truncatedBytes };
  }

  #indexBatch(baseOffset: number, position: number): void {
    if (position - this.#lastIndexedPosition >= this.#options.indexIntervalBytes) {
      this.#index.add(baseOffset, position);
      this.#lastIndexedPosition = position;
    }
  }

  #readAt(position: number, length: number): Uint8Array {
    const buffer = new Uint8Array(length);
    this.#file.seekSync(position, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < length) {
      const read = this.#file.readSync(buffer.subarray(filled));
      if (read === null || read === 0) break;
      filled += read;
    }
    return filled === length ? buffer : buffer.subarray(0, filled);
  }

  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /**
   * Appends one validated batch, assigning its offsets. The write reaches
   * the OS before this returns; durability on disk is `sync()`'s job.
   * `batch` is modified in place (its baseOffset).
   */
  append(batch: Uint8Array, header: BatchHeader): number {
    if (this.#closed) throw new Error(`Cannot append to log as it is closed: ${this.path}`);
    const baseOffset = this.logEndOffset;
    writeBaseOffset(batch, 0, baseOffset);
    const position = this.#sizeBytes;
    this.#file.seekSync(position, Deno.SeekMode.Start);
    let written = 0;
    try {
      while (written < batch.byteLength) written += this.#file.writeSync(batch.subarray(written));
    } catch (error) {
      // A partial write must not leave half a batch where the next one goes.
      this.#file.truncateSync(position);
      throw error;
    }
    this.#sizeBytes += batch.byteLength;
    this.#indexBatch(baseOffset, position);
    this.logEndOffset = baseOffset + header.lastOffsetDelta + 1;
    this.producers.record(header, baseOffset);
    return baseOffset;
  }

  /** True when bytes were appended since the last completed sync. */
  get dirty(): boolean {
    return this.#syncedBytes < this.#sizeBytes;
  }

  /**
   * Resolves once everything appended before the call is on disk. Calls
   * that arrive while a sync runs share the next one (group commit), so
   * concurrent producers cost one fdatasync per round, not one each.
   */
  async sync(): Promise<void> {
    const target = this.#sizeBytes;
    while (this.#syncedBytes < target && !this.#closed) {
      if (this.#syncing === null) {
        const covering = this.#sizeBytes;
        this.#syncing = this.#file.syncData().then(() => {
          this.#syncedBytes = Math.max(this.#syncedBytes, covering);
        }).finally(() => {
          this.#syncing = null;
        });
      }
      await this.#syncing;
    }
  }

  /**
   * Returns whole batches starting with the one that holds `fetchOffset`,
   * up to `bytesMax` bytes, but always at least one batch when any exists
   * (so a batch larger than the limit still makes progress, as in Kafka).
   */
  read(fetchOffset: number, bytesMax: number): Uint8Array {
    if (fetchOffset >= this.logEndOffset || this.#closed) return new Uint8Array(0);
    let position = this.#index.floor(fetchOffset);
    // Walk headers from the indexed position to the batch holding fetchOffset.
    let chunk: Uint8Array = new Uint8Array(0);
    let chunkStart = 0;
    let firstBatchBytes = 0;
    while (position < this.#sizeBytes) {
      if (position + BATCH_HEADER_BYTES > chunkStart + chunk.byteLength) {
        chunk = this.#readAt(position, Math.min(SCAN_CHUNK_BYTES, this.#sizeBytes - position));
        chunkStart = position;
      }
      const header = readBatchHeader(chunk, position - chunkStart);
      if (header.baseOffset + header.lastOffsetDelta >= fetchOffset) {
        firstBatchBytes = header.sizeBytes;
        break;
      }
      position += header.sizeBytes;
    }
    if (firstBatchBytes === 0) return new Uint8Array(0);
    const wanted = Math.min(Math.max(bytesMax, firstBatchBytes), this.#sizeBytes - position);
    const bytes = this.#readAt(position, wanted);
    // Cut at the last whole batch so consumers never see a partial one.
    let end = 0;
    while (end + BATCH_LOG_OVERHEAD <= bytes.byteLength) {
      const size = new DataView(bytes.buffer, bytes.byteOffset + end + 8, 4).getInt32(0) + BATCH_LOG_OVERHEAD;
      if (end + size > bytes.byteLength) break;
      end += size;
    }
    return bytes.subarray(0, end);
  }

  /**
   * The first offset whose batch has a timestamp at or after `timestamp`,
   * with that batch's max timestamp; undefined when none does. This scans
   * headers from the start, which is fine for a development broker.
   */
  offsetForTimestamp(timestamp: number): { offset: number; timestamp: number } | undefined {
    let position = 0;
    let chunk: Uint8Array = new Uint8Array(0);
    let chunkStart = 0;
    while (position < this.#sizeBytes) {
      if (position + BATCH_HEADER_BYTES > chunkStart + chunk.byteLength) {
        chunk = this.#readAt(position, Math.min(RECOVERY_CHUNK_BYTES, this.#sizeBytes - position));
        chunkStart = position;
      }
      const header = readBatchHeader(chunk, position - chunkStart);
      if (header.maxTimestamp >= timestamp) return { offset: header.baseOffset, timestamp: header.maxTimestamp };
      position += header.sizeBytes;
    }
    return undefined;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.sync();
    this.#closed = true;
    await this.#syncing;
    this.#file.close();
  }
}
