/**
 * What every API handler sees: the parsed request header, the connection it
 * came from, and the broker's shared state.
 */

import type { Reader, Writer } from "./_codec.ts";
import type { GroupCoordinator } from "./_group_coordinator.ts";
import type { LogStore } from "./_log_store.ts";
import type { OffsetStore } from "./_offset_store.ts";
import type { FsyncPolicy } from "./_partition_log.ts";
import type { AppendNotifier } from "./_append_notifier.ts";

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

export interface BrokerSettings {
  advertisedHost: string;
  advertisedPort: number;
  defaultPartitions: number;
  autoCreateTopics: boolean;
  fsync: FsyncPolicy;
  /** Largest RecordBatch accepted in a Produce (Kafka's message.max.bytes). */
  batchBytesMax: number;
  /** Upper bound on one Fetch answer's record bytes, as Kafka's fetch.max.bytes. */
  fetchBytesMax: number;
  /** Upper bound on a Fetch long-poll, whatever the client asks for. */
  fetchWaitMaxMs: number;
}

export interface BrokerState {
  settings: BrokerSettings;
  store: LogStore;
  offsets: OffsetStore;
  groups: GroupCoordinator;
  appends: AppendNotifier;
}

export interface RequestContext {
  header: RequestHeader;
  clientHost: string;
  state: BrokerState;
}

/** Returns the response body, or null when the request expects none (Produce with acks=0). */
export type Handler = (context: RequestContext, body: Reader) => Promise<Writer | null> | Writer | null;
