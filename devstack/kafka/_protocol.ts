/**
 * API keys, the version ranges this broker implements, and the error codes
 * it answers with. Every range stops below the API's first flexible
 * version, so no compact encodings or tagged fields are ever needed.
 */

export const ApiKey = {
  Produce: 0,
  Fetch: 1,
  ListOffsets: 2,
  Metadata: 3,
  OffsetCommit: 8,
  OffsetFetch: 9,
  FindCoordinator: 10,
  JoinGroup: 11,
  Heartbeat: 12,
  LeaveGroup: 13,
  SyncGroup: 14,
  DescribeGroups: 15,
  ApiVersions: 18,
  CreateTopics: 19,
  DeleteTopics: 20,
  InitProducerId: 22,
} as const;

export type ApiKey = typeof ApiKey[keyof typeof ApiKey];

/**
 * Advertised [min, max] per API. The maxima match what kafkajs 2.2.4
 * negotiates against Apache Kafka 2.3+, so dev and test run the same client
 * code paths as production.
 */
export const SUPPORTED_VERSIONS: ReadonlyMap<number, readonly [number, number]> = new Map([
  [ApiKey.Produce, [3, 7]],
  [ApiKey.Fetch, [4, 11]],
  [ApiKey.ListOffsets, [1, 3]],
  [ApiKey.Metadata, [0, 6]],
  [ApiKey.OffsetCommit, [0, 5]],
  [ApiKey.OffsetFetch, [1, 4]],
  [ApiKey.FindCoordinator, [0, 2]],
  [ApiKey.JoinGroup, [0, 5]],
  [ApiKey.Heartbeat, [0, 3]],
  [ApiKey.LeaveGroup, [0, 3]],
  [ApiKey.SyncGroup, [0, 3]],
  [ApiKey.DescribeGroups, [0, 2]],
  [ApiKey.ApiVersions, [0, 2]],
  [ApiKey.CreateTopics, [0, 3]],
  [ApiKey.DeleteTopics, [0, 1]],
  [ApiKey.InitProducerId, [0, 1]],
]);

export function isSupported(apiKey: number, version: number): boolean {
  const range = SUPPORTED_VERSIONS.get(apiKey);
  return range !== undefined && version >= range[0] && version <= range[1];
}

/** Kafka error codes (org.apache.kafka.common.protocol.Errors). */
export const ErrorCode = {
  None: 0,
  OffsetOutOfRange: 1,
  CorruptMessage: 2,
  UnknownTopicOrPartition: 3,
  LeaderNotAvailable: 5,
  MessageTooLarge: 10,
  OffsetMetadataTooLarge: 12,
  CoordinatorNotAvailable: 15,
  InvalidTopicException: 17,
  RecordListTooLarge: 18,
  InvalidRequiredAcks: 21,
  IllegalGeneration: 22,
  InconsistentGroupProtocol: 23,
  InvalidGroupId: 24,
  UnknownMemberId: 25,
  InvalidSessionTimeout: 26,
  RebalanceInProgress: 27,
  UnsupportedVersion: 35,
  TopicAlreadyExists: 36,
  InvalidPartitions: 37,
  InvalidReplicationFactor: 38,
  InvalidReplicaAssignment: 39,
  InvalidConfig: 40,
  InvalidRequest: 42,
  UnsupportedForMessageFormat: 43,
  OutOfOrderSequenceNumber: 45,
  DuplicateSequenceNumber: 46,
  InvalidProducerEpoch: 47,
  GroupIdNotFound: 69,
  MemberIdRequired: 79,
  UnknownProducerId: 59,
  GroupMaxSizeReached: 81,
} as const;

export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** The single node this broker presents itself as, in Metadata and FindCoordinator. */
export const NODE_ID = 0;
