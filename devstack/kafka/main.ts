/**
 * Standalone devstack Kafka broker (`deno task kafka`). Composition root:
 * reads flags and environment, starts the broker, stops it on SIGINT or
 * SIGTERM.
 */

import { brokerOptions, parseKafkaConfig } from "./config.ts";
import { startKafkaBroker } from "./broker.ts";

/** How long shutdown may take before the process exits anyway. */
const SHUTDOWN_MS_MAX = 10000;

export async function main(args: readonly string[], env: Record<string, string | undefined>): Promise<void> {
  const config = parseKafkaConfig(args, env);
  const broker = await startKafkaBroker(brokerOptions(config));
  console.log(
    `kafka: listening on ${broker.address} (data ${config.dataDir}, ${config.defaultPartitions} default partitions, fsync ${config.fsync})`,
  );
  const signal = await new Promise<string>((resolve) => {
    for (const name of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(name, () => resolve(name));
  });
  console.log(`kafka: ${signal} received, shutting down`);
  const timer = setTimeout(() => {
    console.error(`kafka: shutdown took longer than ${SHUTDOWN_MS_MAX} ms, exiting`);
    Deno.exit(1);
  }, SHUTDOWN_MS_MAX);
  await broker.close();
  clearTimeout(timer);
  Deno.exit(0);
}

if (import.meta.main) {
  try {
    await main(Deno.args, Deno.env.toObject());
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(2);
  }
}
