/**
 * Cluster-level APIs: ApiVersions, Metadata, FindCoordinator, CreateTopics
 * and DeleteTopics. The broker is one node (id 0) that leads every
 * partition and coordinates every group.
 */

import { type Reader, Writer } from "./_codec.ts";
import type { BrokerState, RequestContext } from "./_context.ts";
import { isValidTopicName } from "./_log_store.ts";
import { ErrorCode, NODE_ID, SUPPORTED_VERSIONS } from "./_protocol.ts";

export function handleApiVersions({ header }: RequestContext): Writer {
  return apiVersionsBody(header.apiVersion, ErrorCode.None);
}

/**
 * The ApiVersions answer. For an unsupported ApiVersions version the
 * broker answers in the v0 layout with UNSUPPORTED_VERSION and the full
 * list, which is how Kafka lets newer clients (librdkafka) fall back.
 */
export function apiVersionsBody(version: number, errorCode: number): Writer {
  const writer = new Writer(512);
  writer.int16(errorCode);
  writer.array([...SUPPORTED_VERSIONS], (w, [key, [min, max]]) => w.int16(key).int16(min).int16(max));
  if (version >= 1) writer.int32(0);
  return writer;
}

export function handleMetadata({ header, state }: RequestContext, body: Reader): Writer {
  const version = header.apiVersion;
  const requested = version === 0 ? body.array((r) => r.string(), 2) : body.nullableArray((r) => r.string(), 2);
  const allowAutoCreate = version >= 4 ? body.boolean() : true;
  // v0 spells "all topics" as an empty list; v1+ as null.
  const all = requested === null || (version === 0 && requested.length === 0);
  const names = all ? [...state.store.topics.keys()] : [...new Set(requested)];

  const writer = new Writer(1024);
  if (version >= 3) writer.int32(0);
  writer.array([state.settings], (w, s) => {
    w.int32(NODE_ID).string(s.advertisedHost).int32(s.advertisedPort);
    if (version >= 1) w.nullableString(null);
  });
  if (version >= 2) writer.nullableString(state.store.clusterId);
  if (version >= 1) writer.int32(NODE_ID);
  writer.array(names, (w, name) => {
    let errorCode: number = ErrorCode.None;
    let partitions = state.store.topics.get(name)?.length;
    if (partitions === undefined) {
      if (!isValidTopicName(name)) {
        errorCode = ErrorCode.InvalidTopicException;
      } else if (!all && allowAutoCreate && state.settings.autoCreateTopics) {
        errorCode = createTopicOrError(state, name, state.settings.defaultPartitions).errorCode;
        // Kafka answers LEADER_NOT_AVAILABLE while an auto-created topic gets its leaders.
        if (errorCode === ErrorCode.None) errorCode = ErrorCode.LeaderNotAvailable;
      } else {
        errorCode = ErrorCode.UnknownTopicOrPartition;
      }
      partitions = 0;
    }
    w.int16(errorCode).string(name);
    if (version >= 1) w.boolean(false);
    w.int32(partitions);
    for (let partition = 0; partition < partitions; partition++) {
      w.int16(ErrorCode.None).int32(partition).int32(NODE_ID);
      w.int32(1).int32(NODE_ID); // replicas
      w.int32(1).int32(NODE_ID); // in-sync replicas
      if (version >= 5) w.int32(0); // offline replicas
    }
  });
  return writer;
}

function createTopicOrError(
  state: BrokerState,
  name: string,
  partitions: number,
): { errorCode: number; message: string | null } {
  try {
    state.store.createTopic(name, partitions);
    return { errorCode: ErrorCode.None, message: null };
  } catch (error) {
    if (error instanceof RangeError) return { errorCode: ErrorCode.InvalidPartitions, message: error.message };
    throw error;
  }
}

export function handleFindCoordinator({ header, state }: RequestContext, body: Reader): Writer {
  body.string(); // group id or transactional id: this node coordinates all of them
  if (header.apiVersion >= 1) body.int8();
  const writer = new Writer(64);
  if (header.apiVersion >= 1) writer.int32(0);
  writer.int16(ErrorCode.None);
  if (header.apiVersion >= 1) writer.nullableString(null);
  return writer.int32(NODE_ID).string(state.settings.advertisedHost).int32(state.settings.advertisedPort);
}

/** Topic configs Kafka accepts at creation. They are stored nowhere: this broker keeps every record. */
const KNOWN_TOPIC_CONFIGS = new Set([
  "cleanup.policy",
  "compression.type",
  "delete.retention.ms",
  "file.delete.delay.ms",
  "flush.messages",
  "flush.ms",
  "follower.replication.throttled.replicas",
  "index.interval.bytes",
  "leader.replication.throttled.replicas",
  "local.retention.bytes",
  "local.retention.ms",
  "max.compaction.lag.ms",
  "max.message.bytes",
  "message.downconversion.enable",
  "message.format.version",
  "message.timestamp.after.max.ms",
  "message.timestamp.before.max.ms",
  "message.timestamp.difference.max.ms",
  "message.timestamp.type",
  "min.cleanable.dirty.ratio",
  "min.compaction.lag.ms",
  "min.insync.replicas",
  "preallocate",
  "remote.storage.enable",
  "retention.bytes",
  "retention.ms",
  "segment.bytes",
  "segment.index.bytes",
  "segment.jitter.ms",
  "segment.ms",
  "unclean.leader.election.enable",
]);

interface CreatableTopic {
  name: string;
  numPartitions: number;
  replicationFactor: number;
  assignments: { partition: number; brokers: number[] }[];
  configs: { name: string; value: string | null }[];
}

export function handleCreateTopics({ header, state }: RequestContext, body: Reader): Writer {
  const version = header.apiVersion;
  const topics = body.array((r): CreatableTopic => ({
    name: r.string(),
    numPartitions: r.int32(),
    replicationFactor: r.int16(),
    assignments: r.array((a) => ({ partition: a.int32(), brokers: a.array((b) => b.int32(), 4) }), 8),
    configs: r.array((c) => ({ name: c.string(), value: c.nullableString() }), 4),
  }), 16);
  body.int32(); // timeout: creation here is synchronous
  const validateOnly = version >= 1 ? body.boolean() : false;

  const counts = new Map<string, number>();
  for (const topic of topics) counts.set(topic.name, (counts.get(topic.name) ?? 0) + 1);
  const results = topics.map((topic) => {
    if (counts.get(topic.name)! > 1) {
      return { name: topic.name, errorCode: ErrorCode.InvalidRequest, message: "Duplicate topic in request." };
    }
    const problem = checkCreatable(state, topic);
    if (problem !== null) return { name: topic.name, ...problem };
    const partitions = topic.assignments.length > 0
      ? topic.assignments.length
      : topic.numPartitions === -1
      ? state.settings.defaultPartitions
      : topic.numPartitions;
    if (validateOnly) return { name: topic.name, errorCode: ErrorCode.None, message: null };
    return { name: topic.name, ...createTopicOrError(state, topic.name, partitions) };
  });

  const writer = new Writer(256);
  if (version >= 2) writer.int32(0);
  writer.array(results, (w, result) => {
    w.string(result.name).int16(result.errorCode);
    if (version >= 1) w.nullableString(result.message);
  });
  return writer;
}

function checkCreatable(state: BrokerState, topic: CreatableTopic): { errorCode: number; message: string } | null {
  if (!isValidTopicName(topic.name)) {
    return { errorCode: ErrorCode.InvalidTopicException, message: `Topic name "${topic.name}" is illegal.` };
  }
  if (state.store.topics.has(topic.name)) {
    return { errorCode: ErrorCode.TopicAlreadyExists, message: `Topic '${topic.name}' already exists.` };
  }
  if (topic.assignments.length > 0) {
    if (topic.numPartitions !== -1 || topic.replicationFactor !== -1) {
      return {
        errorCode: ErrorCode.InvalidRequest,
        message: "Both numPartitions or replicationFactor and replicasAssignments were set.",
      };
    }
    const valid = topic.assignments.every((a, i) =>
      a.partition === i && a.brokers.length === 1 && a.brokers[0] === NODE_ID
    );
    if (!valid) return { errorCode: ErrorCode.InvalidReplicaAssignment, message: "Unknown broker or partition." };
  } else {
    if (topic.numPartitions === 0 || topic.numPartitions < -1) {
      return { errorCode: ErrorCode.InvalidPartitions, message: "Number of partitions must be larger than 0." };
    }
    if (topic.replicationFactor === 0 || topic.replicationFactor < -1) {
      return { errorCode: ErrorCode.InvalidReplicationFactor, message: "Replication factor must be larger than 0." };
    }
    // A single-node Kafka refuses more replicas than brokers; so does this one.
    if (topic.replicationFactor > 1) {
      return {
        errorCode: ErrorCode.InvalidReplicationFactor,
        message: `Replication factor: ${topic.replicationFactor} larger than available brokers: 1.`,
      };
    }
  }
  for (const config of topic.configs) {
    if (!KNOWN_TOPIC_CONFIGS.has(config.name)) {
      return { errorCode: ErrorCode.InvalidConfig, message: `Unknown topic config name: ${config.name}` };
    }
  }
  return null;
}

export async function handleDeleteTopics({ header, state }: RequestContext, body: Reader): Promise<Writer> {
  const names = body.array((r) => r.string(), 2);
  body.int32(); // timeout: deletion here is synchronous
  const results: { name: string; errorCode: number }[] = [];
  for (const name of names) {
    if (!state.store.topics.has(name)) {
      results.push({ name, errorCode: ErrorCode.UnknownTopicOrPartition });
      continue;
    }
    const partitions = state.store.topics.get(name)!.length;
    await state.store.deleteTopic(name);
    state.offsets.deleteTopic(name);
    // Parked fetches on the topic answer now rather than at their deadline.
    for (let partition = 0; partition < partitions; partition++) {
      state.appends.notify(`${name}\u0000${partition}`);
    }
    results.push({ name, errorCode: ErrorCode.None });
  }
  const writer = new Writer(128);
  if (header.apiVersion >= 1) writer.int32(0);
  return writer.array(results, (w, r) => w.string(r.name).int16(r.errorCode));
}
