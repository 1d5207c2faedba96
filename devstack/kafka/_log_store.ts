/**
 * The broker's topics on disk: `meta.json` (topics, partition counts,
 * producer-id block) plus one `PartitionLog` per partition under `logs/`.
 */

import { writeFileAtomicSync } from "./_atomic_file.ts";
import { PartitionLog, type PartitionLogOptions } from "./_partition_log.ts";

const META_VERSION = 1;
/** Producer ids are reserved on disk in blocks, so a restart never reuses one. */
const PRODUCER_ID_BLOCK = 1000;
const TOPIC_NAME_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;

interface MetaFile {
  version: number;
  clusterId: string;
  topics: { name: string; partitions: number }[];
  producerIdBlockEnd: number;
}

export interface LogStoreOptions extends PartitionLogOptions {
  /** Upper bound on partitions across all topics (each holds an open file). */
  partitionsMax: number;
  log: (line: string) => void;
}

export function isValidTopicName(name: string): boolean {
  return TOPIC_NAME_PATTERN.test(name) && name !== "." && name !== "..";
}

export class LogStore {
  readonly dataDir: string;
  readonly clusterId: string;
  readonly topics = new Map<string, PartitionLog[]>();
  #options: LogStoreOptions;
  #nextProducerId: number;
  #producerIdBlockEnd: number;

  private constructor(dataDir: string, meta: MetaFile, options: LogStoreOptions) {
    this.dataDir = dataDir;
    this.clusterId = meta.clusterId;
    this.#options = options;
    this.#nextProducerId = meta.producerIdBlockEnd;
    this.#producerIdBlockEnd = meta.producerIdBlockEnd;
  }

  static open(dataDir: string, options: LogStoreOptions): LogStore {
    Deno.mkdirSync(`${dataDir}/logs`, { recursive: true });
    const meta = readMeta(`${dataDir}/meta.json`);
    const store = new LogStore(dataDir, meta, options);
    try {
      for (const topic of meta.topics) store.#openTopic(topic.name, topic.partitions);
    } catch (error) {
      store.closeSync();
      throw error;
    }
    store.#writeMeta();
    return store;
  }

  #openTopic(name: string, partitions: number): PartitionLog[] {
    const logs: PartitionLog[] = [];
    this.topics.set(name, logs);
    for (let partition = 0; partition < partitions; partition++) {
      const { log, recovery } = PartitionLog.open(this.#logPath(name, partition), this.#options);
      logs.push(log);
      if (recovery.truncatedBytes > 0) {
        this.#options.log(
          `kafka: recovered ${name}-${partition} with ${recovery.batches} batches, truncated ${recovery.truncatedBytes} torn bytes`,
        );
      }
    }
    return logs;
  }

  #logPath(topic: string, partition: number): string {
    return `${this.dataDir}/logs/${topic}-${partition}.log`;
  }

  get partitionCount(): number {
    let count = 0;
    for (const logs of this.topics.values()) count += logs.length;
    return count;
  }

  partition(topic: string, partition: number): PartitionLog | undefined {
    return this.topics.get(topic)?.[partition];
  }

  /** Creates a topic durably; the caller has checked the name and that it is new. */
  createTopic(name: string, partitions: number): PartitionLog[] {
    if (this.partitionCount + partitions > this.#options.partitionsMax) {
      throw new RangeError(
        `Cannot create topic ${name} as the broker would exceed its partition limit: ${this.partitionCount} + ${partitions} > ${this.#options.partitionsMax}`,
      );
    }
    // Stale files from a topic deleted before a crash must not resurface.
    for (let partition = 0; partition < partitions; partition++) {
      try {
        Deno.removeSync(this.#logPath(name, partition));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      }
    }
    const logs = this.#openTopic(name, partitions);
    this.#writeMeta();
    return logs;
  }

  async deleteTopic(name: string): Promise<void> {
    const logs = this.topics.get(name);
    if (logs === undefined) return;
    this.topics.delete(name);
    this.#writeMeta();
    for (const log of logs) {
      await log.close();
      await Deno.remove(log.path).catch(() => {});
    }
  }

  allocateProducerId(): number {
    if (this.#nextProducerId >= this.#producerIdBlockEnd) {
      this.#producerIdBlockEnd = this.#nextProducerId + PRODUCER_ID_BLOCK;
      this.#writeMeta();
    }
    return this.#nextProducerId++;
  }

  /** Fsyncs every partition with unsynced appends (the "interval" policy's tick). */
  async syncAll(): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const logs of this.topics.values()) {
      for (const log of logs) if (log.dirty) pending.push(log.sync());
    }
    await Promise.all(pending);
  }

  #writeMeta(): void {
    const meta: MetaFile = {
      version: META_VERSION,
      clusterId: this.clusterId,
      topics: [...this.topics].map(([name, logs]) => ({ name, partitions: logs.length })),
      producerIdBlockEnd: this.#producerIdBlockEnd,
    };
    writeFileAtomicSync(`${this.dataDir}/meta.json`, new TextEncoder().encode(JSON.stringify(meta, null, 2) + "\n"));
  }

  async close(): Promise<void> {
    for (const logs of this.topics.values()) {
      for (const log of logs) await log.close();
    }
    this.topics.clear();
  }

  closeSync(): void {
    for (const logs of this.topics.values()) {
      for (const log of logs) void log.close();
    }
    this.topics.clear();
  }
}

function readMeta(path: string): MetaFile {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { version: META_VERSION, clusterId: crypto.randomUUID(), topics: [], producerIdBlockEnd: 0 };
    }
    throw error;
  }
  const meta = JSON.parse(text) as MetaFile;
  if (meta.version !== META_VERSION || !Array.isArray(meta.topics)) {
    throw new Error(`Cannot open Kafka data as its metadata version is unknown: ${path} has version ${meta.version}`);
  }
  return meta;
}
