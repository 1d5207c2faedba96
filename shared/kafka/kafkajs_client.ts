/**
 * The kafkajs implementation of `types.ts`: an idempotent producer, a
 * consumer that hands each partition's records to a handler in order and
 * commits only what was handled (or dead-lettered), and an admin.
 *
 * Delivery is at least once: a record whose handler resolved but whose
 * commit was lost (crash, rebalance) is handled again, so handlers dedupe by
 * event id. Nothing is skipped: a record that keeps failing goes to
 * `<group>.dlq`, and if even that publish fails the consumer stops without
 * committing past it.
 */

import { Buffer } from "node:buffer";
import {
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  Kafka,
  type KafkaMessage,
  type LogEntry,
  logLevel as KafkaLogLevel,
  Partitioners,
  type Producer,
} from "kafkajs";
import type { LogLevel } from "../config.ts";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "../metrics.ts";
import { dlqTopic } from "../events.ts";
import type {
  ConsumedRecord,
  ConsumerOptions,
  EventConsumer,
  EventProducer,
  KafkaAdmin,
  KafkaClient,
  OutgoingRecord,
} from "./types.ts";
import { PoisonRecordError } from "./types.ts";

export interface KafkaClientOptions {
  /** "host:port" seeds. */
  brokers: readonly string[];
  clientId: string;
  logger: Logger;
  /** Counts dead-lettered records and handler failures when given. */
  metrics?: MetricsRegistry;
  /** kafkajs messages at or above this level reach `logger`. Default "warn". */
  logLevel?: LogLevel;
  /** Connection attempts and request retries at most. Default 5. */
  retriesMax?: number;
  /** One request's timeout. Default 30000. */
  requestTimeoutMs?: number;
  /** Longest a consumer's fetch waits for new records (latency vs. idle traffic). Default 500. */
  fetchWaitMaxMs?: number;
  /** Consumer session timeout; a silent member is removed after it. Default 30000. */
  sessionTimeoutMs?: number;
  /** Interval between consumer heartbeats. Default 3000. */
  heartbeatIntervalMs?: number;
  /** Bytes fetched per partition per request at most. Default 1 MiB. */
  fetchBytesPerPartitionMax?: number;
  /** How long close() of a producer, consumer or admin may take. Default 10000. */
  closeTimeoutMs?: number;
  /** Backoff after the first failed handler attempt, doubled per attempt up to 5000. Default 200. */
  handlerBackoffMs?: number;
}

interface Settings {
  logger: Logger;
  metrics: MetricsRegistry | undefined;
  retriesMax: number;
  requestTimeoutMs: number;
  fetchWaitMaxMs: number;
  sessionTimeoutMs: number;
  heartbeatIntervalMs: number;
  fetchBytesPerPartitionMax: number;
  closeTimeoutMs: number;
  handlerBackoffMs: number;
}

const KAFKA_LEVEL: Record<LogLevel, KafkaLogLevel> = {
  debug: KafkaLogLevel.DEBUG,
  info: KafkaLogLevel.INFO,
  warn: KafkaLogLevel.WARN,
  error: KafkaLogLevel.ERROR,
};

/** Records one producer send accepts at most; callers batch below it. */
export const SEND_RECORDS_MAX = 10_000;
const HANDLER_BACKOFF_MAX_MS = 5000;
const RETRIES_MAX_DEFAULT = 5;
const BATCH_RECORDS_MAX_DEFAULT = 500;
const DLQ_REASON_CHARS_MAX = 500;
/** Kafka topic names: at most 249 of these characters. */
const LEGAL_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * A client for the cluster at `brokers`. Nothing connects until a producer,
 * consumer or admin is opened.
 */
export function connectKafka(options: KafkaClientOptions): KafkaClient {
  const problems: string[] = [];
  if (options.brokers.length === 0) problems.push("brokers must not be empty");
  if (!options.clientId) problems.push("clientId must not be empty");
  const settings: Settings = {
    logger: options.logger,
    metrics: options.metrics,
    retriesMax: positive("retriesMax", options.retriesMax, RETRIES_MAX_DEFAULT, problems),
    requestTimeoutMs: positive("requestTimeoutMs", options.requestTimeoutMs, 30_000, problems),
    fetchWaitMaxMs: positive("fetchWaitMaxMs", options.fetchWaitMaxMs, 500, problems),
    sessionTimeoutMs: positive("sessionTimeoutMs", options.sessionTimeoutMs, 30_000, problems),
    heartbeatIntervalMs: positive("heartbeatIntervalMs", options.heartbeatIntervalMs, 3000, problems),
    fetchBytesPerPartitionMax: positive(
      "fetchBytesPerPartitionMax",
      options.fetchBytesPerPartitionMax,
      1024 * 1024,
      problems,
    ),
    closeTimeoutMs: positive("closeTimeoutMs", options.closeTimeoutMs, 10_000, problems),
    handlerBackoffMs: positive("handlerBackoffMs", options.handlerBackoffMs, 200, problems),
  };
  if (problems.length > 0) {
    throw new TypeError(`Cannot connect to Kafka as the options are invalid: ${problems.join("; ")}`);
  }
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: [...options.brokers],
    requestTimeout: settings.requestTimeoutMs,
    connectionTimeout: Math.min(settings.requestTimeoutMs, 10_000),
    retry: { retries: settings.retriesMax, initialRetryTime: 100, maxRetryTime: 5000 },
    logLevel: KAFKA_LEVEL[options.logLevel ?? "warn"],
    logCreator: () => (entry) => forwardLog(options.logger, entry),
  });
  return {
    producer: () => openProducer(kafka, settings),
    consumer: (consumerOptions) => startConsumer(kafka, settings, consumerOptions),
    admin: () => openAdmin(kafka, settings),
  };
}

function positive(name: string, value: number | undefined, fallback: number, problems: string[]): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1) problems.push(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** kafkajs log lines become our JSON lines; only fields that help an operator are kept. */
function forwardLog(logger: Logger, entry: LogEntry): void {
  const { message, error, groupId, topic, broker, retryCount, retryTime } = entry.log as Record<string, unknown>;
  const fields: Record<string, unknown> = { kafka_namespace: entry.namespace };
  for (const [k, v] of Object.entries({ error, groupId, topic, broker, retryCount, retryTime })) {
    if (v !== undefined) fields[k] = v;
  }
  const msg = `kafka: ${String(message)}`;
  if (entry.level === KafkaLogLevel.ERROR) logger.error(msg, fields);
  else if (entry.level === KafkaLogLevel.WARN) logger.warn(msg, fields);
  else if (entry.level === KafkaLogLevel.INFO) logger.info(msg, fields);
  else logger.debug(msg, fields);
}

/** Resolves `work`, or gives up waiting after `ms` and reports it. */
async function within(ms: number, what: string, logger: Logger, work: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((resolve) => timer = setTimeout(() => resolve("timeout"), ms));
  try {
    const result = await Promise.race([work.then(() => "done" as const), timedOut]);
    if (result === "timeout") logger.warn(`Kafka ${what} did not finish in time`, { timeout_ms: ms });
  } catch (error) {
    logger.warn(`Kafka ${what} failed`, { error });
  } finally {
    clearTimeout(timer);
  }
}

function newProducer(kafka: Kafka, settings: Settings): Producer {
  // Idempotent with one request in flight: a retried request can neither
  // duplicate nor reorder the records of a partition.
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
    retry: { retries: settings.retriesMax, initialRetryTime: 100, maxRetryTime: 5000 },
  });
}

async function openProducer(kafka: Kafka, settings: Settings): Promise<EventProducer> {
  const producer = newProducer(kafka, settings);
  await producer.connect();
  // Sends run one after another so that calls keep their order too.
  let queue: Promise<unknown> = Promise.resolve();
  let closing: Promise<void> | undefined;
  const send = (records: readonly OutgoingRecord[]): Promise<void> => {
    if (closing) return Promise.reject(new Error("Cannot send to Kafka as the producer is closed"));
    if (records.length > SEND_RECORDS_MAX) {
      return Promise.reject(
        new RangeError(`Cannot send to Kafka as a batch holds at most ${SEND_RECORDS_MAX} records: ${records.length}`),
      );
    }
    if (records.length === 0) return Promise.resolve();
    const byTopic = new Map<string, { key: string; value: Buffer; headers: IHeaders }[]>();
    for (const record of records) {
      let messages = byTopic.get(record.topic);
      if (!messages) byTopic.set(record.topic, messages = []);
      messages.push({ key: record.key, value: toBuffer(record.value), headers: { ...record.headers } });
    }
    const run = queue.then(() =>
      producer.sendBatch({
        acks: -1,
        timeout: settings.requestTimeoutMs,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      })
    );
    queue = run.catch(() => {});
    return run.then(() => {});
  };
  const close = () => {
    closing ??= within(
      settings.closeTimeoutMs,
      "producer close",
      settings.logger,
      queue.then(() => producer.disconnect()),
    );
    return closing;
  };
  return { send, close, [Symbol.asyncDispose]: close };
}

async function openAdmin(kafka: Kafka, settings: Settings): Promise<KafkaAdmin> {
  const admin = kafka.admin({ retry: { retries: settings.retriesMax, initialRetryTime: 100, maxRetryTime: 5000 } });
  await admin.connect();
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= within(settings.closeTimeoutMs, "admin close", settings.logger, admin.disconnect());
    return closing;
  };
  return {
    async ensureTopics(topics) {
      for (const { topic, partitions } of topics) {
        if (!LEGAL_TOPIC.test(topic)) throw new TypeError(`Cannot create topic as its name is illegal: ${topic}`);
        if (!Number.isInteger(partitions) || partitions < 1 || partitions > 10_000) {
          throw new RangeError(`Cannot create topic ${topic} as partitions must be in [1, 10000]: ${partitions}`);
        }
      }
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.topic));
      if (missing.length === 0) return;
      // Topics created meanwhile by another replica make kafkajs answer false, not throw.
      await admin.createTopics({
        topics: missing.map((t) => ({ topic: t.topic, numPartitions: t.partitions })),
        waitForLeaders: true,
        timeout: settings.requestTimeoutMs,
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function headerText(value: IHeaders[string]): string | undefined {
  const last = Array.isArray(value) ? value[value.length - 1] : value;
  if (last === undefined) return undefined;
  return typeof last === "string" ? last : last.toString("utf8");
}

function toRecord(topic: string, partition: number, message: KafkaMessage): ConsumedRecord {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const text = headerText(value);
    if (text !== undefined) headers[name] = text;
  }
  const value = message.value ?? Buffer.alloc(0);
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key === null ? null : message.key.toString("utf8"),
    value: new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
    headers,
    timestampMs: Number(message.timestamp),
  };
}

/** A reason safe to store in a header and a log: one line, bounded, no stack. */
export function safeReason(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : `non-error thrown: ${String(error)}`;
  const line = text.replace(/[\r\n\t]+/g, " ").trim();
  return line.length > DLQ_REASON_CHARS_MAX ? line.slice(0, DLQ_REASON_CHARS_MAX) + "…" : line;
}

/** Thrown when a record can be neither handled nor dead-lettered: the consumer must stop. */
export class ConsumerHaltedError extends Error {
  /** kafkajs does not retry or restart a consumer on an error marked not retriable. */
  readonly retriable = false;
  /** Why, kept out of `cause`: kafkajs judges `cause ?? error` retriable, and a retriable cause would restart it. */
  readonly reason: unknown;
  constructor(message: string, options?: { cause?: unknown }) {
    super(options?.cause === undefined ? message : `${message}: ${safeReason(options.cause)}`);
    this.name = "ConsumerHaltedError";
    this.reason = options?.cause;
  }
}

/** Thrown inside a batch when the consumer is closing; the batch stops without resolving more offsets. */
class Stopping extends Error {}

interface Entry {
  record: ConsumedRecord;
  message: KafkaMessage;
}

function startConsumer(kafka: Kafka, settings: Settings, options: ConsumerOptions): EventConsumer {
  const problems: string[] = [];
  if (!options.groupId) problems.push("groupId must not be empty");
  if (options.topics.length === 0) problems.push("topics must not be empty");
  const retriesMax = options.retriesMax ?? 3;
  if (!Number.isInteger(retriesMax) || retriesMax < 1 || retriesMax > 100) {
    problems.push(`retriesMax must be an integer in [1, 100], got ${retriesMax}`);
  }
  const batchRecordsMax = options.batchRecordsMax ?? BATCH_RECORDS_MAX_DEFAULT;
  if (!Number.isInteger(batchRecordsMax) || batchRecordsMax < 1 || batchRecordsMax > 10_000) {
    problems.push(`batchRecordsMax must be an integer in [1, 10000], got ${batchRecordsMax}`);
  }
  const partitionsConcurrently = options.partitionsConcurrently ?? 1;
  if (!Number.isInteger(partitionsConcurrently) || partitionsConcurrently < 1 || partitionsConcurrently > 100) {
    problems.push(`partitionsConcurrently must be an integer in [1, 100], got ${partitionsConcurrently}`);
  }
  if (problems.length > 0) {
    throw new TypeError(`Cannot start Kafka consumer as the options are invalid: ${problems.join("; ")}`);
  }
  const group = options.groupId;
  const dlq = dlqTopic(group);
  const logger = settings.logger.with({ consumer_group: group });
  const metrics = settings.metrics;
  const dlqRecords = metrics?.counter("kafka_consumer_dlq_records_total", "Records sent to the dead-letter topic");
  const handlerFailures = metrics?.counter("kafka_consumer_handler_failures_total", "Failed handler calls");
  const handledRecords = metrics?.counter("kafka_consumer_records_total", "Records handled or dead-lettered");

  const consumer: Consumer = kafka.consumer({
    groupId: group,
    sessionTimeout: settings.sessionTimeoutMs,
    rebalanceTimeout: Math.max(settings.sessionTimeoutMs, 10_000),
    heartbeatInterval: settings.heartbeatIntervalMs,
    maxWaitTimeInMs: settings.fetchWaitMaxMs,
    maxBytesPerPartition: settings.fetchBytesPerPartitionMax,
    maxBytes: settings.fetchBytesPerPartitionMax * 10,
    retry: { retries: settings.retriesMax, initialRetryTime: 100, maxRetryTime: 5000 },
  });
  const dlqProducer = newProducer(kafka, settings);
  let dlqReady: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const ensureDlq = () => {
    dlqReady ??= (async () => {
      const admin = await openAdmin(kafka, settings);
      try {
        await admin.ensureTopics([{ topic: dlq, partitions: 1 }]);
      } finally {
        await admin.close();
      }
    })().catch((error) => {
      dlqReady = undefined;
      throw error;
    });
    return dlqReady;
  };

  const deadLetter = async (entry: Entry, error: unknown) => {
    const { record, message } = entry;
    const reason = safeReason(error);
    try {
      await ensureDlq();
      await dlqProducer.send({
        topic: dlq,
        acks: -1,
        timeout: settings.requestTimeoutMs,
        messages: [{
          key: message.key,
          value: message.value,
          headers: {
            ...message.headers,
            dlq_reason: reason,
            dlq_original_topic: record.topic,
            dlq_original_partition: String(record.partition),
            dlq_original_offset: record.offset,
            dlq_group: group,
          },
        }],
      });
    } catch (cause) {
      throw new ConsumerHaltedError(
        `Cannot dead-letter ${record.topic}/${record.partition}@${record.offset} as the publish to ${dlq} failed`,
        { cause },
      );
    }
    dlqRecords?.inc({ group, topic: record.topic });
    logger.error("Kafka record sent to the dead-letter topic", {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      dlq_topic: dlq,
      reason,
    });
  };

  const eachBatch = async (payload: EachBatchPayload) => {
    const { batch, resolveOffset, commitOffsetsIfNecessary, isRunning, isStale } = payload;
    // Heartbeats run beside a long handler call; a rebalance they report ends the batch once the call returns.
    let beatError: unknown;
    let beating = false;
    const beat = async () => {
      if (beating) return;
      beating = true;
      try {
        await payload.heartbeat();
      } catch (error) {
        beatError ??= error;
      } finally {
        beating = false;
      }
    };
    const withHeartbeats = async (work: () => Promise<void>) => {
      const timer = setInterval(beat, settings.heartbeatIntervalMs);
      try {
        await work();
      } finally {
        clearInterval(timer);
      }
    };
    const checkRunning = () => {
      if (!isRunning() || isStale()) throw new Stopping();
      if (beatError) throw beatError;
    };
    const pause = (ms: number) => withHeartbeats(() => new Promise((resolve) => setTimeout(resolve, ms)));

    const handle = async (entries: readonly Entry[]) => {
      const records = entries.map((e) => e.record);
      let lastError: unknown;
      for (let attempt = 1;; attempt++) {
        checkRunning();
        try {
          await withHeartbeats(() => options.handler(records));
          return;
        } catch (error) {
          lastError = error;
          handlerFailures?.inc({ group, topic: batch.topic });
          logger.warn("Kafka handler failed", {
            topic: batch.topic,
            partition: batch.partition,
            first_offset: records[0]!.offset,
            records: records.length,
            attempt,
            attempts_max: retriesMax,
            reason: safeReason(error),
          });
          if (attempt >= retriesMax) break;
          await pause(Math.min(settings.handlerBackoffMs * 2 ** (attempt - 1), HANDLER_BACKOFF_MAX_MS));
        }
      }
      // The batch keeps failing: find the records that fail on their own, in
      // order. Only a poison record is dead-lettered; any other failure is the
      // system's, so the batch is given up uncommitted and fetched again later.
      for (const entry of entries) {
        checkRunning();
        let error: unknown = lastError;
        if (entries.length > 1) {
          try {
            await withHeartbeats(() => options.handler([entry.record]));
            continue;
          } catch (caught) {
            handlerFailures?.inc({ group, topic: batch.topic });
            error = caught;
          }
        }
        if (!(error instanceof PoisonRecordError)) {
          await pause(Math.min(settings.handlerBackoffMs * 2 ** retriesMax, HANDLER_BACKOFF_MAX_MS));
          throw new Error(
            `Cannot handle ${entry.record.topic}/${entry.record.partition}@${entry.record.offset} yet; it will be fetched again`,
            { cause: error },
          );
        }
        await deadLetter(entry, error);
      }
    };

    const entries: Entry[] = batch.messages.map((message) => ({
      record: toRecord(batch.topic, batch.partition, message),
      message,
    }));
    try {
      for (let start = 0; start < entries.length; start += batchRecordsMax) {
        const chunk = entries.slice(start, start + batchRecordsMax);
        await handle(chunk);
        resolveOffset(chunk[chunk.length - 1]!.record.offset);
        handledRecords?.inc({ group, topic: batch.topic }, chunk.length);
        // With autoCommitThreshold 1 this commits now, so a crash repeats at most one chunk.
        await commitOffsetsIfNecessary();
        if (beatError) throw beatError;
        await payload.heartbeat();
      }
    } catch (error) {
      if (error instanceof Stopping) return;
      throw error;
    }
  };

  let joined = false;
  const ready = (async () => {
    const joinedOrCrashed = new Promise<void>((resolve, reject) => {
      consumer.on(consumer.events.GROUP_JOIN, () => {
        joined = true;
        resolve();
      });
      consumer.on(consumer.events.CRASH, (event) => {
        const error = event.payload.error;
        if (event.payload.restart) return;
        logger.error("Kafka consumer stopped for good; nothing past its last commit is handled", {
          error: safeReason(error),
        });
        if (!closing) options.onFatal?.(error);
        reject(error);
      });
    });
    joinedOrCrashed.catch(() => {});
    await dlqProducer.connect();
    await consumer.connect();
    await consumer.subscribe({ topics: [...options.topics], fromBeginning: options.fromBeginning ?? false });
    await consumer.run({
      autoCommit: true,
      autoCommitThreshold: 1,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: partitionsConcurrently,
      eachBatch,
    });
    if (!joined) await joinedOrCrashed;
  })();
  ready.catch(() => {});

  const close = () => {
    closing ??= within(
      settings.closeTimeoutMs,
      "consumer close",
      logger,
      (async () => {
        await ready.catch(() => {});
        await consumer.disconnect();
        await dlqProducer.disconnect();
      })(),
    );
    return closing;
  };
  return { ready, close, [Symbol.asyncDispose]: close };
}
