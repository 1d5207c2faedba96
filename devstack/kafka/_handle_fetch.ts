/**
 * Fetch (v4–11) with long polling, and ListOffsets (v1–3). Fetch answers
 * with whole stored batches read back from the partition files; when fewer
 * than minBytes are available it waits for appends until maxWait.
 */

import { type Reader, Writer } from "./_codec.ts";
import type { BrokerState, RequestContext } from "./_context.ts";
import { AppendNotifier } from "./_append_notifier.ts";
import { ErrorCode } from "./_protocol.ts";

const FETCH_SESSION_ID_NOT_FOUND = 70;
const EMPTY: Uint8Array = new Uint8Array(0);

interface FetchPartition {
  partition: number;
  fetchOffset: number;
  partitionMaxBytes: number;
}

interface FetchTopic {
  topic: string;
  partitions: FetchPartition[];
}

interface PartitionData {
  partition: number;
  errorCode: number;
  highWatermark: number;
  records: Uint8Array;
}

export async function handleFetch({ header, state }: RequestContext, body: Reader): Promise<Writer> {
  const version = header.apiVersion;
  body.int32(); // replica id: only consumers fetch here
  const maxWaitMs = body.int32();
  const minBytes = body.int32();
  // The broker's own cap bounds the memory one answer can take, whatever the client asks.
  const maxBytes = Math.min(body.int32(), state.settings.fetchBytesMax);
  body.int8(); // isolation level: without transactions, committed = everything written
  const sessionId = version >= 7 ? body.int32() : 0;
  if (version >= 7) body.int32(); // session epoch
  const topics = body.array((r): FetchTopic => ({
    topic: r.string(),
    partitions: r.array((p): FetchPartition => {
      const partition = p.int32();
      if (version >= 9) p.int32(); // current leader epoch
      const fetchOffset = p.int64();
      if (version >= 5) p.int64(); // follower log start offset
      return { partition, fetchOffset, partitionMaxBytes: p.int32() };
    }, 16),
  }), 6);
  if (version >= 7) body.array((r) => ({ topic: r.string(), partitions: r.array((p) => p.int32(), 4) }), 6);
  if (version >= 11) body.string();

  const writer = new Writer(256);
  writer.int32(0);
  if (sessionId !== 0) {
    // Incremental fetch sessions are declined: session id 0 on every answer tells
    // clients none was created, so a nonzero id can only be stale.
    return writer.int16(FETCH_SESSION_ID_NOT_FOUND).int32(0).int32(0);
  }

  let collected = collect(state, topics, maxBytes);
  if (collected.bytes < minBytes && !collected.hasError && maxWaitMs > 0) {
    const keys = topics.flatMap((t) => t.partitions.map((p) => AppendNotifier.key(t.topic, p.partition)));
    const deadline = Date.now() + Math.min(maxWaitMs, state.settings.fetchWaitMaxMs);
    while (collected.bytes < minBytes && !collected.hasError) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      await state.appends.wait(keys, remainingMs);
      collected = collect(state, topics, maxBytes);
    }
  }

  if (version >= 7) writer.int16(ErrorCode.None).int32(0);
  writer.array(collected.topics, (w, topic) => {
    w.string(topic.topic);
    w.array(topic.partitions, (pw, data) => {
      pw.int32(data.partition).int16(data.errorCode).int64(data.highWatermark);
      pw.int64(data.highWatermark); // last stable offset
      if (version >= 5) pw.int64(data.errorCode === ErrorCode.None ? 0 : -1); // log start offset
      pw.int32(0); // aborted transactions: none
      if (version >= 11) pw.int32(-1); // preferred read replica: this node
      pw.bytes(data.records);
    });
  });
  return writer;
}

function collect(
  state: BrokerState,
  topics: FetchTopic[],
  maxBytes: number,
): { bytes: number; hasError: boolean; topics: { topic: string; partitions: PartitionData[] }[] } {
  let bytes = 0;
  let hasError = false;
  const out = topics.map(({ topic, partitions }) => ({
    topic,
    partitions: partitions.map(({ partition, fetchOffset, partitionMaxBytes }): PartitionData => {
      const log = state.store.partition(topic, partition);
      if (log === undefined) {
        hasError = true;
        return { partition, errorCode: ErrorCode.UnknownTopicOrPartition, highWatermark: -1, records: EMPTY };
      }
      const highWatermark = log.logEndOffset;
      if (fetchOffset < log.logStartOffset || fetchOffset > highWatermark) {
        hasError = true;
        return { partition, errorCode: ErrorCode.OffsetOutOfRange, highWatermark, records: EMPTY };
      }
      const limit = Math.min(partitionMaxBytes, maxBytes - bytes);
      let records: Uint8Array = EMPTY;
      if (fetchOffset < highWatermark && (limit > 0 || bytes === 0)) {
        records = log.read(fetchOffset, Math.max(limit, 0));
        // Only the first batch of the whole answer may exceed the limits (KIP-74);
        // elsewhere an oversized batch waits until it comes first.
        if (bytes > 0 && records.byteLength > limit) records = EMPTY;
      }
      bytes += records.byteLength;
      return { partition, errorCode: ErrorCode.None, highWatermark, records };
    }),
  }));
  return { bytes, hasError, topics: out };
}

const LATEST_TIMESTAMP = -1;
const EARLIEST_TIMESTAMP = -2;

export function handleListOffsets({ header, state }: RequestContext, body: Reader): Writer {
  const version = header.apiVersion;
  body.int32(); // replica id
  if (version >= 2) body.int8(); // isolation level
  const topics = body.array((r) => ({
    name: r.string(),
    partitions: r.array((p) => ({ partition: p.int32(), timestamp: p.int64() }), 12),
  }), 6);
  const writer = new Writer(128);
  if (version >= 2) writer.int32(0);
  writer.array(topics, (w, topic) => {
    w.string(topic.name);
    w.array(topic.partitions, (pw, { partition, timestamp }) => {
      const log = state.store.partition(topic.name, partition);
      if (log === undefined) {
        pw.int32(partition).int16(ErrorCode.UnknownTopicOrPartition).int64(-1).int64(-1);
        return;
      }
      let found = { offset: -1, timestamp: -1 };
      if (timestamp === LATEST_TIMESTAMP) found = { offset: log.logEndOffset, timestamp: -1 };
      else if (timestamp === EARLIEST_TIMESTAMP) found = { offset: log.logStartOffset, timestamp: -1 };
      else found = log.offsetForTimestamp(timestamp) ?? found;
      pw.int32(partition).int16(ErrorCode.None).int64(found.timestamp).int64(found.offset);
    });
  });
  return writer;
}
