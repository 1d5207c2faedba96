/**
 * Configuration of the standalone broker from command-line flags and
 * environment variables (flags win). Every problem is reported at once.
 */

import type { FsyncPolicy, KafkaBrokerOptions } from "./broker.ts";

export interface KafkaConfig {
  host: string;
  port: number;
  dataDir: string;
  defaultPartitions: number;
  fsync: FsyncPolicy;
}

const FLAGS: Record<string, { env: string; key: keyof KafkaConfig }> = {
  "--host": { env: "KAFKA_HOST", key: "host" },
  "--port": { env: "KAFKA_PORT", key: "port" },
  "--data-dir": { env: "KAFKA_DATA_DIR", key: "dataDir" },
  "--partitions": { env: "KAFKA_PARTITIONS", key: "defaultPartitions" },
  "--fsync": { env: "KAFKA_FSYNC", key: "fsync" },
};

export const USAGE =
  `Usage: deno run -A devstack/kafka/main.ts [--port 9092] [--data-dir .devstack/kafka] [--partitions 1]
                                        [--host 127.0.0.1] [--fsync always|interval|never]
Environment: KAFKA_PORT, KAFKA_DATA_DIR, KAFKA_PARTITIONS, KAFKA_HOST, KAFKA_FSYNC (flags take precedence).`;

export function parseKafkaConfig(args: readonly string[], env: Record<string, string | undefined>): KafkaConfig {
  const raw = new Map<keyof KafkaConfig, { value: string; source: string }>();
  for (const spec of Object.values(FLAGS)) {
    const value = env[spec.env];
    if (value !== undefined && value !== "") raw.set(spec.key, { value, source: spec.env });
  }
  const problems: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [name, inline] = arg.includes("=")
      ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)]
      : [arg, undefined];
    const spec = FLAGS[name];
    if (spec === undefined) {
      problems.push(`unknown argument ${JSON.stringify(arg)}`);
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined || value.startsWith("--")) {
      problems.push(`${name} needs a value`);
      if (value !== undefined) i--;
      continue;
    }
    raw.set(spec.key, { value, source: name });
  }

  const integer = (key: keyof KafkaConfig, fallback: number, min: number, max: number): number => {
    const entry = raw.get(key);
    if (entry === undefined) return fallback;
    const value = Number(entry.value);
    if (!/^\d+$/.test(entry.value) || value < min || value > max) {
      problems.push(`${entry.source} must be an integer in [${min}, ${max}], got ${JSON.stringify(entry.value)}`);
      return fallback;
    }
    return value;
  };
  const fsyncEntry = raw.get("fsync");
  let fsync: FsyncPolicy = "always";
  if (fsyncEntry !== undefined) {
    if (["always", "interval", "never"].includes(fsyncEntry.value)) fsync = fsyncEntry.value as FsyncPolicy;
    else {problems.push(
        `${fsyncEntry.source} must be always, interval or never, got ${JSON.stringify(fsyncEntry.value)}`,
      );}
  }
  const config: KafkaConfig = {
    host: raw.get("host")?.value ?? "127.0.0.1",
    port: integer("port", 9092, 0, 65535),
    dataDir: raw.get("dataDir")?.value ?? ".devstack/kafka",
    defaultPartitions: integer("defaultPartitions", 1, 1, 10000),
    fsync,
  };
  if (problems.length > 0) {
    throw new TypeError(`Cannot configure Kafka broker as ${problems.join("; ")}\n${USAGE}`);
  }
  return config;
}

export function brokerOptions(config: KafkaConfig): KafkaBrokerOptions {
  return { ...config };
}
