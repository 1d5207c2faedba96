/**
 * Idempotent-producer bookkeeping for one partition: per producer id, the
 * epoch and the last few batches' sequence ranges, so that a retried batch
 * is answered with its original offset instead of being appended twice.
 */

import type { BatchHeader } from "./_record_batch.ts";
import { ErrorCode } from "./_protocol.ts";

/** Kafka keeps the last five batches per producer; a client has at most five in flight. */
const BATCHES_REMEMBERED = 5;
const SEQUENCE_MAX = 0x7fffffff;

interface RememberedBatch {
  firstSequence: number;
  lastSequence: number;
  baseOffset: number;
}

interface ProducerEntry {
  epoch: number;
  lastSequence: number;
  batches: RememberedBatch[];
}

export type SequenceCheck =
  | { kind: "append" }
  | { kind: "duplicate"; baseOffset: number }
  | { kind: "reject"; errorCode: ErrorCode };

export class ProducerStates {
  #entries = new Map<number, ProducerEntry>();
  #producersMax: number;

  constructor(producersMax: number) {
    this.#producersMax = producersMax;
  }

  /** Decides what to do with a produced batch before it is appended. */
  check(header: BatchHeader): SequenceCheck {
    if (header.producerId < 0) return { kind: "append" };
    const entry = this.#entries.get(header.producerId);
    // A producer this partition has not seen (or has forgotten) starts anywhere,
    // as in Kafka after its producer state expired.
    if (entry === undefined) return { kind: "append" };
    if (header.producerEpoch < entry.epoch) return { kind: "reject", errorCode: ErrorCode.InvalidProducerEpoch };
    if (header.producerEpoch > entry.epoch) {
      return header.baseSequence === 0
        ? { kind: "append" }
        : { kind: "reject", errorCode: ErrorCode.OutOfOrderSequenceNumber };
    }
    const lastSequence = lastSequenceOf(header);
    for (const batch of entry.batches) {
      if (batch.firstSequence === header.baseSequence && batch.lastSequence === lastSequence) {
        return { kind: "duplicate", baseOffset: batch.baseOffset };
      }
    }
    const expected = entry.lastSequence === SEQUENCE_MAX ? 0 : entry.lastSequence + 1;
    return header.baseSequence === expected
      ? { kind: "append" }
      : { kind: "reject", errorCode: ErrorCode.OutOfOrderSequenceNumber };
  }

  /** Records an appended batch (also used while recovering a log from disk). */
  record(header: BatchHeader, baseOffset: number): void {
    if (header.producerId < 0) return;
    let entry = this.#entries.get(header.producerId);
    if (entry === undefined || entry.epoch !== header.producerEpoch) {
      entry = { epoch: header.producerEpoch, lastSequence: -1, batches: [] };
    }
    // Re-inserting keeps the map ordered by last use, so eviction drops the stalest producer.
    this.#entries.delete(header.producerId);
    this.#entries.set(header.producerId, entry);
    const lastSequence = lastSequenceOf(header);
    entry.lastSequence = lastSequence;
    entry.batches.push({ firstSequence: header.baseSequence, lastSequence, baseOffset });
    if (entry.batches.length > BATCHES_REMEMBERED) entry.batches.shift();
    if (this.#entries.size > this.#producersMax) {
      const stalest = this.#entries.keys().next().value;
      if (stalest !== undefined) this.#entries.delete(stalest);
    }
  }

  highestProducerId(): number {
    let highest = -1;
    for (const id of this.#entries.keys()) highest = Math.max(highest, id);
    return highest;
  }
}

function lastSequenceOf(header: BatchHeader): number {
  const last = header.baseSequence + header.lastOffsetDelta;
  return last > SEQUENCE_MAX ? last - SEQUENCE_MAX - 1 : last;
}
