/**
 * Produce (v3–7) and InitProducerId (v0–1). Each partition's data must be
 * one RecordBatch v2 with a valid CRC-32C; it is appended verbatim with
 * broker-assigned offsets. Idempotent batches are checked against the
 * producer's sequence numbers so a retried batch is not stored twice.
 */

import { type Reader, Writer } from "./_codec.ts";
import type { RequestContext } from "./_context.ts";
import { AppendNotifier } from "./_append_notifier.ts";
import type { PartitionLog } from "./_partition_log.ts";
import { ErrorCode } from "./_protocol.ts";
import { validateProducedBatch } from "./_record_batch.ts";

interface PartitionResult {
  partition: number;
  errorCode: number;
  baseOffset: number;
}

export async function handleProduce({ header, state }: RequestContext, body: Reader): Promise<Writer | null> {
  const version = header.apiVersion;
  const transactionalId = body.nullableString();
  const acks = body.int16();
  body.int32(); // timeout: appends here finish or fail without waiting on replicas
  const topics = body.array((r) => ({
    name: r.string(),
    partitions: r.array((p) => ({ partition: p.int32(), records: p.nullableBytes() }), 8),
  }), 6);

  const touched = new Set<PartitionLog>();
  const results = topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map(({ partition, records }): PartitionResult => {
      const fail = (errorCode: number) => ({ partition, errorCode, baseOffset: -1 });
      if (acks !== -1 && acks !== 0 && acks !== 1) return fail(ErrorCode.InvalidRequiredAcks);
      // Transactions need coordinator APIs this broker does not offer.
      if (transactionalId !== null) return fail(ErrorCode.InvalidRequest);
      const log = state.store.partition(topic.name, partition);
      if (log === undefined) return fail(ErrorCode.UnknownTopicOrPartition);
      if (records === null || records.byteLength === 0) return fail(ErrorCode.CorruptMessage);
      if (records.byteLength > state.settings.batchBytesMax) return fail(ErrorCode.MessageTooLarge);
      const batch = validateProducedBatch(records);
      if (batch === "corrupt") return fail(ErrorCode.CorruptMessage);
      if (batch === "unsupported") return fail(ErrorCode.UnsupportedForMessageFormat);
      const check = log.producers.check(batch);
      if (check.kind === "reject") return fail(check.errorCode);
      if (check.kind === "duplicate") return { partition, errorCode: ErrorCode.None, baseOffset: check.baseOffset };
      const baseOffset = log.append(records, batch);
      touched.add(log);
      state.appends.notify(AppendNotifier.key(topic.name, partition));
      return { partition, errorCode: ErrorCode.None, baseOffset };
    }),
  }));

  if (state.settings.fsync === "always" && touched.size > 0) {
    // The answer is the acknowledgement, so the data must be on disk first.
    await Promise.all([...touched].map((log) => log.sync()));
  }
  if (acks === 0) return null;

  const writer = new Writer(128);
  writer.array(results, (w, topic) => {
    w.string(topic.name);
    w.array(topic.partitions, (pw, result) => {
      pw.int32(result.partition).int16(result.errorCode).int64(result.baseOffset);
      pw.int64(-1); // log_append_time: topics use CreateTime
      if (version >= 5) pw.int64(0); // log_start_offset: nothing is ever deleted
    });
  });
  writer.int32(0);
  return writer;
}

export function handleInitProducerId({ state }: RequestContext, body: Reader): Writer {
  const transactionalId = body.nullableString();
  body.int32(); // transaction timeout
  const writer = new Writer(32).int32(0);
  if (transactionalId !== null) {
    return writer.int16(ErrorCode.InvalidRequest).int64(-1).int16(-1);
  }
  return writer.int16(ErrorCode.None).int64(state.store.allocateProducerId()).int16(0);
}
