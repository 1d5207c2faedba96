/**
 * RecordBatch v2 (magic 2) header access and validation. Batches are stored
 * exactly as the producer sent them; the broker only rewrites baseOffset,
 * which the CRC does not cover, so compressed batches pass through intact.
 */

import { crc32c } from "./_crc32c.ts";

export const BATCH_HEADER_BYTES = 61;
/** baseOffset (8) + batchLength (4): the part of a batch its length excludes. */
export const BATCH_LOG_OVERHEAD = 12;

const OFFSET_BATCH_LENGTH = 8;
const OFFSET_MAGIC = 16;
const OFFSET_CRC = 17;
const OFFSET_ATTRIBUTES = 21;
const OFFSET_LAST_OFFSET_DELTA = 23;
const OFFSET_BASE_TIMESTAMP = 27;
const OFFSET_MAX_TIMESTAMP = 35;
const OFFSET_PRODUCER_ID = 43;
const OFFSET_PRODUCER_EPOCH = 51;
const OFFSET_BASE_SEQUENCE = 53;
const OFFSET_RECORDS_COUNT = 57;

const ATTRIBUTE_CODEC_MASK = 0x07;
const ATTRIBUTE_TRANSACTIONAL = 0x10;
const ATTRIBUTE_CONTROL = 0x20;

/** The fields of a batch header the broker acts on. */
export interface BatchHeader {
  baseOffset: number;
  /** Whole batch size in bytes, including baseOffset and batchLength. */
  sizeBytes: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  baseTimestamp: number;
  maxTimestamp: number;
  producerId: number;
  producerEpoch: number;
  baseSequence: number;
  recordsCount: number;
}

/** Reads a header from `bytes` at `at`; the caller guarantees 61 bytes are there. */
export function readBatchHeader(bytes: Uint8Array, at = 0): BatchHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, BATCH_HEADER_BYTES);
  return {
    baseOffset: Number(view.getBigInt64(0)),
    sizeBytes: view.getInt32(OFFSET_BATCH_LENGTH) + BATCH_LOG_OVERHEAD,
    magic: view.getInt8(OFFSET_MAGIC),
    crc: view.getUint32(OFFSET_CRC),
    attributes: view.getInt16(OFFSET_ATTRIBUTES),
    lastOffsetDelta: view.getInt32(OFFSET_LAST_OFFSET_DELTA),
    baseTimestamp: Number(view.getBigInt64(OFFSET_BASE_TIMESTAMP)),
    maxTimestamp: Number(view.getBigInt64(OFFSET_MAX_TIMESTAMP)),
    producerId: Number(view.getBigInt64(OFFSET_PRODUCER_ID)),
    producerEpoch: view.getInt16(OFFSET_PRODUCER_EPOCH),
    baseSequence: view.getInt32(OFFSET_BASE_SEQUENCE),
    recordsCount: view.getInt32(OFFSET_RECORDS_COUNT),
  };
}

/** Reads only baseOffset and whole size, for scanning stored logs quickly. */
export function readBatchBounds(bytes: Uint8Array, at: number): { baseOffset: number; sizeBytes: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, BATCH_LOG_OVERHEAD);
  return {
    baseOffset: Number(view.getBigInt64(0)),
    sizeBytes: view.getInt32(OFFSET_BATCH_LENGTH) + BATCH_LOG_OVERHEAD,
  };
}

export function writeBaseOffset(bytes: Uint8Array, at: number, baseOffset: number): void {
  new DataView(bytes.buffer, bytes.byteOffset + at, 8).setBigInt64(0, BigInt(baseOffset));
}

export function compressionCodec(header: BatchHeader): number {
  return header.attributes & ATTRIBUTE_CODEC_MASK;
}

/** True when the stored CRC matches the bytes it covers (attributes to the end). */
export function hasValidCrc(bytes: Uint8Array, at: number, header: BatchHeader): boolean {
  return crc32c(bytes.subarray(at + OFFSET_ATTRIBUTES, at + header.sizeBytes)) === header.crc;
}

/** Why a produced batch is refused, mapped to a Kafka error code by the caller. */
export type BatchProblem = "corrupt" | "unsupported";

/**
 * Checks that `records` (one partition's data from a Produce request) is
 * exactly one well-formed RecordBatch v2 with a matching CRC-32C. Returns
 * the header, or the reason it must be refused.
 */
export function validateProducedBatch(records: Uint8Array): BatchHeader | BatchProblem {
  if (records.byteLength < BATCH_HEADER_BYTES) return "corrupt";
  const header = readBatchHeader(records);
  if (header.magic !== 2) return "unsupported";
  // Produce v3+ carries exactly one batch per partition, as Kafka enforces.
  if (header.sizeBytes !== records.byteLength) return "corrupt";
  // Every record takes one offset, so the header's counts must agree.
  if (header.recordsCount < 1 || header.lastOffsetDelta !== header.recordsCount - 1) return "corrupt";
  if ((header.attributes & (ATTRIBUTE_TRANSACTIONAL | ATTRIBUTE_CONTROL)) !== 0) return "unsupported";
  if (!hasValidCrc(records, 0, header)) return "corrupt";
  if (compressionCodec(header) === 0) {
    // Uncompressed records can be walked without decoding their payloads;
    // doing so keeps a batch with a forged CRC from poisoning every consumer.
    if (!recordsAreWellFormed(records, header)) return "corrupt";
  } else if (compressionCodec(header) > 4) {
    return "corrupt";
  }
  return header;
}

function recordsAreWellFormed(bytes: Uint8Array, header: BatchHeader): boolean {
  let at = BATCH_HEADER_BYTES;
  for (let i = 0; i < header.recordsCount; i++) {
    const length = readVarint(bytes, at);
    if (length === undefined || length.value < 1) return false;
    at = length.next + length.value;
    if (at > bytes.byteLength) return false;
    // attributes (1 byte), timestampDelta (varlong), then offsetDelta.
    const timestampDelta = readVarint(bytes, length.next + 1);
    if (timestampDelta === undefined) return false;
    const offsetDelta = readVarint(bytes, timestampDelta.next);
    if (offsetDelta === undefined || offsetDelta.value !== i) return false;
  }
  return at === bytes.byteLength;
}

/** Zigzag varint (up to 10 bytes, as a varlong), or undefined if malformed. */
function readVarint(bytes: Uint8Array, at: number): { value: number; next: number } | undefined {
  let result = 0;
  let shift = 1;
  for (let i = 0; i < 10; i++) {
    if (at + i >= bytes.byteLength) return undefined;
    const byte = bytes[at + i]!;
    result += (byte & 0x7f) * shift;
    shift *= 128;
    if ((byte & 0x80) === 0) {
      const value = result % 2 === 0 ? result / 2 : -(result + 1) / 2;
      return { value, next: at + i + 1 };
    }
  }
  return undefined;
}
