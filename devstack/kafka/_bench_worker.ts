/**
 * One kafkajs producer in a Web Worker, so the benchmark can drive the
 * broker from more than one core: kafkajs encodes every record in
 * JavaScript, and a single client thread saturates before the broker does.
 * Receives a job, answers "ready", waits for "go", answers {records, ms}.
 */

/// <reference lib="deno.worker" />

import { Kafka, logLevel } from "kafkajs";

const SEND_RECORDS = 500;
const SENDS_IN_FLIGHT = 4;

interface Job {
  address: string;
  topic: string;
  records: number;
  recordBytes: number;
}

/** Connects first and reports "ready", so start-up is not timed; then produces on "go". */
self.onmessage = async (event: MessageEvent<Job>) => {
  const { address, topic, records, recordBytes } = event.data;
  const kafka = new Kafka({ clientId: "bench-worker", brokers: [address], logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  await producer.send({ topic, messages: [{ value: "warm-up" }] });
  self.postMessage("ready");
  await new Promise<void>((resolve) => self.onmessage = () => resolve());
  const bytes = new Uint8Array(recordBytes);
  crypto.getRandomValues(bytes);
  const value = Buffer.from(bytes);
  const messages = Array.from({ length: SEND_RECORDS }, (_, i) => ({ key: `k${i}`, value }));
  let sent = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: SENDS_IN_FLIGHT }, async () => {
    while (sent < records) {
      sent += SEND_RECORDS;
      await producer.send({ topic, acks: -1, messages });
    }
  }));
  const ms = performance.now() - started;
  await producer.disconnect();
  self.postMessage({ records: sent, ms });
  self.close();
};
