/**
 * Devstack Kafka broker: `startKafkaBroker()` runs a single-node broker that
 * speaks the Kafka wire protocol, for local development and tests only.
 *
 * ```ts
 * await using broker = await startKafkaBroker({ port: 0, dataDir: "/tmp/kafka" });
 * const kafka = new Kafka({ brokers: [broker.address] });
 * ```
 *
 * @module
 */

export { type FsyncPolicy, type KafkaBroker, type KafkaBrokerOptions, startKafkaBroker } from "./broker.ts";
