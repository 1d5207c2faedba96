/**
 * The devstack Kafka broker: a single node speaking the Kafka wire protocol
 * (non-flexible versions) over TCP, so unmodified kafkajs and librdkafka
 * clients can produce, consume and join groups against it.
 */

import { AppendNotifier } from "./_append_notifier.ts";
import { Connection } from "./_connection.ts";
import type { BrokerState, Handler } from "./_context.ts";
import { GroupCoordinator } from "./_group_coordinator.ts";
import {
  handleApiVersions,
  handleCreateTopics,
  handleDeleteTopics,
  handleFindCoordinator,
  handleMetadata,
} from "./_handle_cluster.ts";
import { handleFetch, handleListOffsets } from "./_handle_fetch.ts";
import {
  handleDescribeGroups,
  handleHeartbeat,
  handleJoinGroup,
  handleLeaveGroup,
  handleOffsetCommit,
  handleOffsetFetch,
  handleSyncGroup,
} from "./_handle_groups.ts";
import { handleInitProducerId, handleProduce } from "./_handle_produce.ts";
import { LogStore } from "./_log_store.ts";
import { OffsetStore } from "./_offset_store.ts";
import type { FsyncPolicy } from "./_partition_log.ts";
import { ApiKey } from "./_protocol.ts";

export type { FsyncPolicy };

export interface KafkaBrokerOptions {
  /** TCP port; 0 picks a free one. Default 9092. */
  port?: number;
  /** Address to bind. Default 127.0.0.1. */
  host?: string;
  /** Host clients are told to connect to. Default: `host`, or 127.0.0.1 for a wildcard bind. */
  advertisedHost?: string;
  /** Folder for logs, offsets and metadata; created if missing. */
  dataDir: string;
  /** Partitions of auto-created topics and of CreateTopics with -1. Default 1, as Kafka's num.partitions. */
  defaultPartitions?: number;
  /** Create unknown topics on Metadata requests, as Kafka's auto.create.topics.enable. Default true. */
  autoCreateTopics?: boolean;
  /**
   * When appended data and committed offsets reach the disk:
   * "always" fsyncs before acknowledging (acks ≠ 0) or confirming a commit;
   * "interval" fsyncs every `fsyncIntervalMs`; "never" leaves it to the OS.
   * All three survive a killed broker process; only "always" survives a
   * machine crash without losing acknowledged data. Default "always".
   */
  fsync?: FsyncPolicy;
  /** Period of the "interval" policy. Default 1000. */
  fsyncIntervalMs?: number;
  /** Largest request frame; a larger one closes its connection. Default 100 MiB. */
  frameBytesMax?: number;
  /** Largest produced RecordBatch, as Kafka's message.max.bytes. Default 1048588. */
  batchBytesMax?: number;
  /** Open connections at most; extra ones are closed at once. Default 1000. */
  connectionsMax?: number;
  /** Requests read ahead per connection before the socket stops being read. Default 64. */
  inFlightRequestsMax?: number;
  /** Partitions across all topics at most. Default 10000. */
  partitionsMax?: number;
  /** Idempotent producers remembered per partition. Default 1000. */
  producersMax?: number;
  /** Most record bytes in one Fetch answer, as Kafka's fetch.max.bytes. Default 55 MiB. */
  fetchBytesMax?: number;
  /** Longest Fetch long-poll, whatever the client asks. Default 30000. */
  fetchWaitMaxMs?: number;
  /** Kafka's group.initial.rebalance.delay.ms. Default 0 (Kafka's default is 3000; dev setups use 0). */
  groupInitialRebalanceDelayMs?: number;
  /** Kafka's group.min.session.timeout.ms. Default 6000. */
  groupSessionTimeoutMinMs?: number;
  /** Kafka's group.max.session.timeout.ms. Default 1800000. */
  groupSessionTimeoutMaxMs?: number;
  /** Kafka's group.max.size. Default 1000. */
  groupMembersMax?: number;
  /** Where the broker reports recoveries and unexpected errors. Default console.error. */
  log?: (line: string) => void;
}

export interface KafkaBroker extends AsyncDisposable {
  readonly port: number;
  /** "host:port" to put in a client's broker list. */
  readonly address: string;
  close(): Promise<void>;
}

const HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [ApiKey.Produce, handleProduce],
  [ApiKey.Fetch, handleFetch],
  [ApiKey.ListOffsets, handleListOffsets],
  [ApiKey.Metadata, handleMetadata],
  [ApiKey.OffsetCommit, handleOffsetCommit],
  [ApiKey.OffsetFetch, handleOffsetFetch],
  [ApiKey.FindCoordinator, handleFindCoordinator],
  [ApiKey.JoinGroup, handleJoinGroup],
  [ApiKey.Heartbeat, handleHeartbeat],
  [ApiKey.LeaveGroup, handleLeaveGroup],
  [ApiKey.SyncGroup, handleSyncGroup],
  [ApiKey.DescribeGroups, handleDescribeGroups],
  [ApiKey.ApiVersions, handleApiVersions],
  [ApiKey.CreateTopics, handleCreateTopics],
  [ApiKey.DeleteTopics, handleDeleteTopics],
  [ApiKey.InitProducerId, handleInitProducerId],
]);

/** How long close() waits for connections to finish their current request. */
const CLOSE_DRAIN_MS = 5000;
/** Kafka's own cap on a single RecordBatch is far below this; it keeps files sane. */
const RECOVERY_BATCH_BYTES_MAX = 1 << 30;

export async function startKafkaBroker(options: KafkaBrokerOptions): Promise<KafkaBroker> {
  const settings = resolveOptions(options);
  const log = options.log ?? ((line: string) => console.error(line));
  const store = LogStore.open(options.dataDir, {
    indexIntervalBytes: 4096,
    batchBytesMax: RECOVERY_BATCH_BYTES_MAX,
    producersMax: settings.producersMax,
    partitionsMax: settings.partitionsMax,
    log,
  });
  let offsets: OffsetStore;
  let listener: Deno.TcpListener;
  try {
    offsets = OffsetStore.open(options.dataDir);
    try {
      listener = Deno.listen({ hostname: settings.host, port: settings.port, transport: "tcp" });
    } catch (error) {
      await offsets.close();
      throw error;
    }
  } catch (error) {
    await store.close();
    throw new Error(`Cannot start Kafka broker as ${settings.host}:${settings.port} is unusable: ${error}`, {
      cause: error,
    });
  }
  const port = (listener.addr as Deno.NetAddr).port;
  const state: BrokerState = {
    settings: {
      advertisedHost: settings.advertisedHost,
      advertisedPort: port,
      defaultPartitions: settings.defaultPartitions,
      autoCreateTopics: settings.autoCreateTopics,
      fsync: settings.fsync,
      batchBytesMax: settings.batchBytesMax,
      fetchWaitMaxMs: settings.fetchWaitMaxMs,
      fetchBytesMax: settings.fetchBytesMax,
    },
    store,
    offsets,
    groups: new GroupCoordinator({
      initialRebalanceDelayMs: settings.groupInitialRebalanceDelayMs,
      sessionTimeoutMinMs: settings.groupSessionTimeoutMinMs,
      sessionTimeoutMaxMs: settings.groupSessionTimeoutMaxMs,
      membersMax: settings.groupMembersMax,
    }),
    appends: new AppendNotifier(),
  };

  const connections = new Map<Connection, Promise<void>>();
  let syncing = false;
  const syncTimer = settings.fsync === "interval"
    ? setInterval(() => {
      if (syncing) return;
      syncing = true;
      Promise.all([store.syncAll(), offsets.sync()])
        .catch((error) => log(`kafka: periodic fsync failed: ${error}`))
        .finally(() => syncing = false);
    }, settings.fsyncIntervalMs)
    : undefined;

  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        if (connections.size >= settings.connectionsMax) {
          conn.close();
          continue;
        }
        const connection = new Connection(conn, state, {
          handlers: HANDLERS,
          limits: { frameBytesMax: settings.frameBytesMax, inFlightRequestsMax: settings.inFlightRequestsMax },
          log,
        });
        const running = connection.run().catch((error) => log(`kafka: connection failed: ${error}`))
          .finally(() => connections.delete(connection));
        connections.set(connection, running);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.BadResource)) log(`kafka: accept loop ended: ${error}`);
    }
  })();

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      try {
        listener.close();
      } catch {
        // Already closed.
      }
      await acceptLoop;
      state.groups.close();
      state.appends.close();
      for (const connection of connections.keys()) connection.close();
      let drainTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all(connections.values()),
        new Promise<void>((resolve) => drainTimer = setTimeout(resolve, CLOSE_DRAIN_MS)),
      ]);
      clearTimeout(drainTimer);
      clearInterval(syncTimer);
      await offsets.close();
      await store.close();
    })();
    return closing;
  };

  return {
    port,
    address: `${settings.advertisedHost}:${port}`,
    close,
    [Symbol.asyncDispose]: close,
  };
}

type ResolvedOptions = Required<Omit<KafkaBrokerOptions, "log" | "dataDir">>;

function resolveOptions(options: KafkaBrokerOptions): ResolvedOptions {
  const host = options.host ?? "127.0.0.1";
  const resolved: ResolvedOptions = {
    port: options.port ?? 9092,
    host,
    advertisedHost: options.advertisedHost ?? (host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host),
    defaultPartitions: options.defaultPartitions ?? 1,
    autoCreateTopics: options.autoCreateTopics ?? true,
    fsync: options.fsync ?? "always",
    fsyncIntervalMs: options.fsyncIntervalMs ?? 1000,
    frameBytesMax: options.frameBytesMax ?? 100 * 1024 * 1024,
    batchBytesMax: options.batchBytesMax ?? 1048588,
    connectionsMax: options.connectionsMax ?? 1000,
    inFlightRequestsMax: options.inFlightRequestsMax ?? 64,
    partitionsMax: options.partitionsMax ?? 10000,
    producersMax: options.producersMax ?? 1000,
    fetchWaitMaxMs: options.fetchWaitMaxMs ?? 30000,
    fetchBytesMax: options.fetchBytesMax ?? 55 * 1024 * 1024,
    groupInitialRebalanceDelayMs: options.groupInitialRebalanceDelayMs ?? 0,
    groupSessionTimeoutMinMs: options.groupSessionTimeoutMinMs ?? 6000,
    groupSessionTimeoutMaxMs: options.groupSessionTimeoutMaxMs ?? 1800000,
    groupMembersMax: options.groupMembersMax ?? 1000,
  };
  const problems: string[] = [];
  if (!Number.isInteger(resolved.port) || resolved.port < 0 || resolved.port > 65535) {
    problems.push(`port must be an integer in [0, 65535], got ${resolved.port}`);
  }
  if (!["always", "interval", "never"].includes(resolved.fsync)) {
    problems.push(`fsync must be "always", "interval" or "never", got ${JSON.stringify(resolved.fsync)}`);
  }
  const positive: (keyof ResolvedOptions)[] = [
    "defaultPartitions",
    "fsyncIntervalMs",
    "frameBytesMax",
    "batchBytesMax",
    "connectionsMax",
    "inFlightRequestsMax",
    "partitionsMax",
    "producersMax",
    "fetchWaitMaxMs",
    "fetchBytesMax",
    "groupSessionTimeoutMinMs",
    "groupSessionTimeoutMaxMs",
    "groupMembersMax",
  ];
  for (const key of positive) {
    const value = resolved[key];
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      problems.push(`${key} must be a positive integer, got ${value}`);
    }
  }
  if (!Number.isInteger(resolved.groupInitialRebalanceDelayMs) || resolved.groupInitialRebalanceDelayMs < 0) {
    problems.push(
      `groupInitialRebalanceDelayMs must be a non-negative integer, got ${resolved.groupInitialRebalanceDelayMs}`,
    );
  }
  if (typeof options.dataDir !== "string" || options.dataDir === "") problems.push("dataDir must be a non-empty path");
  if (problems.length > 0) {
    throw new TypeError(`Cannot start Kafka broker as its options are invalid: ${problems.join("; ")}`);
  }
  return resolved;
}
