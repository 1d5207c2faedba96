/**
 * Helpers shared by the broker's tests: a broker in a fresh temporary data
 * folder, quiet kafkajs clients, and bounded polling.
 */

import { Kafka, logLevel } from "kafkajs";
import { type KafkaBroker, type KafkaBrokerOptions, startKafkaBroker } from "./broker.ts";

export { waitFor } from "../../shared/testing/wait.ts";

export interface TestBroker extends KafkaBroker {
  dataDir: string;
  /** A kafkajs client for this broker with logging off and fast retries. */
  kafka(clientId?: string): Kafka;
}

/** Starts a broker on an ephemeral port in a new temporary folder; disposing it removes the folder. */
export async function startTestBroker(options: Partial<KafkaBrokerOptions> = {}): Promise<TestBroker> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "kafka-test-" });
  const broker = await startKafkaBroker({
    port: 0,
    log: Deno.env.get("KAFKA_TEST_LOG") ? console.error : () => {},
    ...options,
    dataDir,
  });
  const close = async () => {
    await broker.close();
    if (options.dataDir === undefined) await Deno.remove(dataDir, { recursive: true });
  };
  return {
    port: broker.port,
    address: broker.address,
    dataDir,
    close,
    [Symbol.asyncDispose]: close,
    kafka: (clientId = "test") => quietKafka(broker.address, clientId),
  };
}

export function quietKafka(address: string, clientId = "test", retries = 8): Kafka {
  return new Kafka({
    clientId,
    brokers: [address],
    logLevel: Deno.env.get("KAFKA_TEST_LOG") ? logLevel.DEBUG : logLevel.NOTHING,
    retry: { initialRetryTime: 50, retries },
  });
}

export function range(count: number): number[] {
  return Array.from({ length: count }, (_, i) => i);
}
