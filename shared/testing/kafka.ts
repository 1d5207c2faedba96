/**
 * A devstack Kafka broker for one test: an ephemeral port and a fresh
 * temporary data folder, both gone when the handle is disposed.
 */

import { type KafkaBroker, type KafkaBrokerOptions, startKafkaBroker } from "../../devstack/kafka/mod.ts";

export interface TestBroker extends KafkaBroker {
  /** `[address]`, ready for `connectKafka({ brokers })` or `KAFKA_BROKERS`. */
  readonly brokers: readonly string[];
  readonly dataDir: string;
}

/**
 * Starts a broker on port 0 in a new temporary folder (or `options.dataDir`,
 * which is then kept). Broker logs are dropped unless KAFKA_TEST_LOG is set.
 */
export async function startTestBroker(options: Partial<KafkaBrokerOptions> = {}): Promise<TestBroker> {
  const dataDir = options.dataDir ?? await Deno.makeTempDir({ prefix: "securepay-kafka-" });
  let broker: KafkaBroker;
  try {
    broker = await startKafkaBroker({
      port: 0,
      log: Deno.env.get("KAFKA_TEST_LOG") ? (line) => console.error(line) : () => {},
      ...options,
      dataDir,
    });
  } catch (error) {
    if (options.dataDir === undefined) await Deno.remove(dataDir, { recursive: true });
    throw error;
  }
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await broker.close();
      if (options.dataDir === undefined) await Deno.remove(dataDir, { recursive: true });
    })();
    return closing;
  };
  return {
    port: broker.port,
    address: broker.address,
    brokers: [broker.address],
    dataDir,
    close,
    [Symbol.asyncDispose]: close,
  };
}
