/**
 * Structured JSON logs, one object per line on stderr:
 * `{"time":…,"level":"info","service":"payment","msg":"…","request_id":…}`.
 * Secrets never reach a log line: fields whose names look like credentials
 * are replaced before writing.
 */

import type { LogLevel } from "./config.ts";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_FIELD = /(authorization|token|password|secret|cookie|private_?key|jwt)/i;
const MAX_STRING_CHARS = 2048;

export interface LoggerOptions {
  service: string;
  level?: LogLevel;
  /** Where lines go; stderr by default. Tests pass an array's push. */
  write?: (line: string) => void;
  /** Clock for the `time` field. */
  now?: () => Date;
}

export function createLogger(options: LoggerOptions): Logger {
  const threshold = RANK[options.level ?? "info"];
  const encoder = new TextEncoder();
  const write = options.write ?? ((line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n")));
  const now = options.now ?? (() => new Date());

  const make = (bound: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
      if (RANK[level] < threshold) return;
      const line: LogFields = { time: now().toISOString(), level, service: options.service, msg };
      for (const [k, v] of Object.entries({ ...bound, ...fields })) {
        line[k] = sanitize(k, v, 0);
      }
      try {
        write(JSON.stringify(line));
      } catch {
        // A closed stderr must never take the program down with it.
      }
    };
    return {
      debug: (msg, fields) => emit("debug", msg, fields),
      info: (msg, fields) => emit("info", msg, fields),
      warn: (msg, fields) => emit("warn", msg, fields),
      error: (msg, fields) => emit("error", msg, fields),
      with: (fields) => make({ ...bound, ...fields }),
    };
  };
  return make({});
}

function sanitize(key: string, value: unknown, depth: number): unknown {
  if (SECRET_FIELD.test(key)) return "[redacted]";
  if (value instanceof Error) {
    const out: LogFields = { name: value.name, message: value.message.slice(0, MAX_STRING_CHARS) };
    if (value.stack) out.stack = value.stack.slice(0, MAX_STRING_CHARS * 2);
    if (value.cause !== undefined && depth < 3) out.cause = sanitize("cause", value.cause, depth + 1);
    return out;
  }
  if (typeof value === "string") {
    return value.length > MAX_STRING_CHARS ? value.slice(0, MAX_STRING_CHARS) + "…" : value;
  }
  if (typeof value === "bigint") return value.toString();
  if (value && typeof value === "object" && depth < 3) {
    if (Array.isArray(value)) return value.slice(0, 50).map((v) => sanitize("", v, depth + 1));
    const out: LogFields = {};
    for (const [k, v] of Object.entries(value)) out[k] = sanitize(k, v, depth + 1);
    return out;
  }
  return value;
}

/** A logger that drops everything, for tests that do not read logs. */
export const silentLogger: Logger = createLogger({ service: "silent", level: "error", write: () => {} });
