/**
 * @module
 * Kafka behind a small interface (`types.ts`) and its kafkajs
 * implementation: `connectKafka()` opens producers, consumers with
 * per-partition handlers and dead-letter topics, and admins.
 */

export * from "./types.ts";
export {
  connectKafka,
  ConsumerHaltedError,
  type KafkaClientOptions,
  safeReason,
  SEND_RECORDS_MAX,
} from "./kafkajs_client.ts";
