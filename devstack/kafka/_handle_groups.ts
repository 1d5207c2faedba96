/**
 * Consumer-group APIs: JoinGroup (v0–5), SyncGroup, Heartbeat and
 * LeaveGroup (v0–3), DescribeGroups (v0–2), OffsetCommit (v0–5) and
 * OffsetFetch (v1–4). Group rules live in the coordinator; this file only
 * decodes, delegates and encodes.
 */

import { type Reader, Writer } from "./_codec.ts";
import type { RequestContext } from "./_context.ts";
import { ErrorCode } from "./_protocol.ts";

/** Kafka's offset.metadata.max.bytes default. */
const OFFSET_METADATA_MAX_CHARS = 4096;

export async function handleJoinGroup({ header, state, clientHost }: RequestContext, body: Reader): Promise<Writer> {
  const version = header.apiVersion;
  const groupId = body.string();
  const sessionTimeoutMs = body.int32();
  const rebalanceTimeoutMs = version >= 1 ? body.int32() : sessionTimeoutMs;
  const memberId = body.string();
  const groupInstanceId = version >= 5 ? body.nullableString() : null;
  const protocolType = body.string();
  const protocols = body.array((r) => ({ name: r.string(), metadata: r.bytes() }), 6);
  const result = await state.groups.join({
    groupId,
    sessionTimeoutMs,
    rebalanceTimeoutMs,
    memberId,
    groupInstanceId,
    protocolType,
    protocols,
    clientId: header.clientId ?? "",
    clientHost,
    requireKnownMemberId: version >= 4 && groupInstanceId === null,
  });
  const writer = new Writer(256);
  if (version >= 2) writer.int32(0);
  writer.int16(result.errorCode).int32(result.generationId).string(result.protocolName);
  writer.string(result.leaderId).string(result.memberId);
  writer.array(result.members, (w, m) => {
    w.string(m.memberId);
    if (version >= 5) w.nullableString(m.groupInstanceId);
    w.bytes(m.metadata);
  });
  return writer;
}

export async function handleSyncGroup({ header, state }: RequestContext, body: Reader): Promise<Writer> {
  const version = header.apiVersion;
  const groupId = body.string();
  const generationId = body.int32();
  const memberId = body.string();
  if (version >= 3) body.nullableString(); // group instance id
  const assignments = body.array((r) => ({ memberId: r.string(), assignment: r.bytes() }), 6);
  const result = await state.groups.sync(groupId, generationId, memberId, assignments);
  const writer = new Writer(128);
  if (version >= 1) writer.int32(0);
  return writer.int16(result.errorCode).bytes(result.assignment);
}

export function handleHeartbeat({ header, state }: RequestContext, body: Reader): Writer {
  const groupId = body.string();
  const generationId = body.int32();
  const memberId = body.string();
  if (header.apiVersion >= 3) body.nullableString(); // group instance id
  const errorCode = state.groups.heartbeat(groupId, generationId, memberId);
  const writer = new Writer(8);
  if (header.apiVersion >= 1) writer.int32(0);
  return writer.int16(errorCode);
}

export function handleLeaveGroup({ header, state }: RequestContext, body: Reader): Writer {
  const version = header.apiVersion;
  const groupId = body.string();
  const members = version >= 3
    ? body.array((r) => ({ memberId: r.string(), groupInstanceId: r.nullableString() }), 4)
    : [{ memberId: body.string(), groupInstanceId: null }];
  const errors = state.groups.leave(groupId, members.map((m) => m.memberId));
  const writer = new Writer(64);
  if (version >= 1) writer.int32(0);
  if (version < 3) return writer.int16(errors[0] ?? ErrorCode.None);
  writer.int16(ErrorCode.None);
  const results = members.map((member, i) => ({ ...member, errorCode: errors[i] ?? ErrorCode.None }));
  return writer.array(results, (w, r) => w.string(r.memberId).nullableString(r.groupInstanceId).int16(r.errorCode));
}

export function handleDescribeGroups({ header, state }: RequestContext, body: Reader): Writer {
  const groupIds = body.array((r) => r.string(), 2);
  const writer = new Writer(256);
  if (header.apiVersion >= 1) writer.int32(0);
  return writer.array(groupIds, (w, groupId) => {
    const group = state.groups.describe(groupId);
    w.int16(ErrorCode.None).string(groupId).string(group.state).string(group.protocolType).string(group.protocolName);
    w.array(group.members, (mw, m) => {
      mw.string(m.memberId).string(m.clientId).string(m.clientHost).bytes(m.metadata).bytes(m.assignment);
    });
  });
}

export async function handleOffsetCommit({ header, state }: RequestContext, body: Reader): Promise<Writer> {
  const version = header.apiVersion;
  const groupId = body.string();
  const generationId = version >= 1 ? body.int32() : -1;
  const memberId = version >= 1 ? body.string() : "";
  if (version >= 2 && version <= 4) body.int64(); // retention: offsets are kept forever here
  const topics = body.array((r) => ({
    name: r.string(),
    partitions: r.array((p) => {
      const partition = p.int32();
      const offset = p.int64();
      if (version === 1) p.int64(); // commit timestamp
      return { partition, offset, metadata: p.nullableString() };
    }, 14),
  }), 6);

  const groupError = groupId === ""
    ? ErrorCode.InvalidGroupId
    : state.groups.validateCommit(groupId, generationId, memberId);
  const accepted: { topic: string; partition: number; offset: number; metadata: string | null }[] = [];
  const results = topics.map((topic) => ({
    name: topic.name,
    partitions: topic.partitions.map(({ partition, offset, metadata }) => {
      let errorCode: number = groupError;
      if (errorCode === ErrorCode.None) {
        if (state.store.partition(topic.name, partition) === undefined) errorCode = ErrorCode.UnknownTopicOrPartition;
        else if ((metadata?.length ?? 0) > OFFSET_METADATA_MAX_CHARS) errorCode = ErrorCode.OffsetMetadataTooLarge;
        else accepted.push({ topic: topic.name, partition, offset, metadata });
      }
      return { partition, errorCode };
    }),
  }));
  if (accepted.length > 0) {
    state.offsets.commit(groupId, accepted);
    if (state.settings.fsync === "always") await state.offsets.sync();
  }
  const writer = new Writer(128);
  if (version >= 3) writer.int32(0);
  return writer.array(results, (w, topic) => {
    w.string(topic.name).array(topic.partitions, (pw, p) => pw.int32(p.partition).int16(p.errorCode));
  });
}

export function handleOffsetFetch({ header, state }: RequestContext, body: Reader): Writer {
  const version = header.apiVersion;
  const groupId = body.string();
  const requested = version >= 2
    ? body.nullableArray((r) => ({ name: r.string(), partitions: r.array((p) => p.int32(), 4) }), 6)
    : body.array((r) => ({ name: r.string(), partitions: r.array((p) => p.int32(), 4) }), 6);

  let topics: { name: string; partitions: number[] }[];
  if (requested === null) {
    // Null topics (v2+) means every partition the group has committed.
    const byTopic = new Map<string, number[]>();
    for (const { topic, partition } of state.offsets.list(groupId)) {
      byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
    }
    topics = [...byTopic].map(([name, partitions]) => ({ name, partitions }));
  } else {
    topics = requested;
  }
  const writer = new Writer(256);
  if (version >= 3) writer.int32(0);
  writer.array(topics, (w, topic) => {
    w.string(topic.name).array(topic.partitions, (pw, partition) => {
      const committed = state.offsets.get(groupId, topic.name, partition);
      pw.int32(partition).int64(committed?.offset ?? -1).nullableString(committed?.metadata ?? "");
      pw.int16(ErrorCode.None);
    });
  });
  if (version >= 2) writer.int16(ErrorCode.None);
  return writer;
}
