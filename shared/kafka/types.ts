/**
 * The small Kafka interface every program uses (DESIGN.md §2): a producer,
 * a consumer that hands each partition's records to a handler in order,
 * and an admin. kafkajs implements it today (`kafkajs_client.ts`); moving to
 * another KafkaJS-compatible client is a change behind this interface only.
 */

/** A record as a consumer handler sees it. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  /** Kafka offsets are int64; kept as a decimal string. */
  readonly offset: string;
  readonly key: string | null;
  readonly value: Uint8Array;
  /** Header values decoded as UTF-8; a repeated header keeps its last value. */
  readonly headers: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch, as the producer or broker stamped it. */
  readonly timestampMs: number;
}

/** A record to publish. Records with one key land on one partition, in order. */
export interface OutgoingRecord {
  readonly topic: string;
  readonly key: string;
  readonly value: Uint8Array;
  readonly headers: Readonly<Record<string, string>>;
}

export interface EventProducer extends AsyncDisposable {
  /**
   * Publishes `records` with acks from all in-sync replicas through an
   * idempotent producer; resolves once every record is acknowledged, and
   * keeps the given order for records of one key.
   */
  send(records: readonly OutgoingRecord[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Handles the records of one partition, in offset order. Resolving commits
 * past the last record. Throwing retries the batch (bounded); then the
 * records are tried one by one, and a record whose handling throws a
 * {@link PoisonRecordError} goes to the group's dead-letter topic while the
 * consumer moves on. Any other error is taken as a failure of the system
 * (database down, say), not of the record: nothing is committed or
 * dead-lettered, and the consumer fetches the same records again after a
 * pause, so an outage delays events but never diverts them.
 */
export type PartitionBatchHandler = (records: readonly ConsumedRecord[]) => Promise<void>;

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  readonly handler: PartitionBatchHandler;
  /** Start from the earliest offset when the group has none committed. */
  readonly fromBeginning?: boolean;
  /** Attempts of a failing batch before records go one by one to the DLQ. */
  readonly retriesMax?: number;
  /** Most records handed to one handler call; a larger fetched batch is split. Default 500. */
  readonly batchRecordsMax?: number;
  /** Partitions handled at the same time (each one still in order). Default 1. */
  readonly partitionsConcurrently?: number;
  /**
   * Called once when the consumer stops for good: a record could neither be
   * handled nor dead-lettered, so nothing past it was committed. The program
   * should report it and exit (its replacement resumes from the last commit).
   */
  readonly onFatal?: (error: Error) => void;
}

export interface EventConsumer extends AsyncDisposable {
  /** Resolves once the consumer has joined its group and is fetching. */
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

export interface KafkaAdmin extends AsyncDisposable {
  /** Creates the topics that do not exist yet; existing ones are left as they are. */
  ensureTopics(topics: readonly { topic: string; partitions: number }[]): Promise<void>;
  close(): Promise<void>;
}

/** Opens producers, consumers and admins on one cluster. */
export interface KafkaClient {
  /** A connected producer. */
  producer(): Promise<EventProducer>;
  /** Starts a consumer; await its `ready` to know it joined the group. */
  consumer(options: ConsumerOptions): EventConsumer;
  /** A connected admin. */
  admin(): Promise<KafkaAdmin>;
}

/**
 * Thrown by a handler for a record that can never be processed (malformed
 * headers or payload, an impossible value): it goes to the dead-letter
 * topic with `message` as its reason, instead of being retried forever.
 */
export class PoisonRecordError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "PoisonRecordError";
  }
}
