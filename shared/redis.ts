/**
 * A Redis connection whose every wait is bounded: connecting and each
 * command time out, a command fails after one reconnect attempt instead of
 * queueing, and closing gives up after a few timeouts. Callers treat a
 * failure as "Redis unavailable" and fall back to the database.
 */

import { Redis } from "ioredis";
import type { Logger } from "./log.ts";

export interface BoundedRedisOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Bound on connecting and on each command. */
  commandTimeoutMs: number;
  /** Connection errors are logged here, at most one line per 10 s. */
  logger?: Logger;
}

export interface BoundedRedis {
  readonly client: Redis;
  /** Connects on first use (and again after the client gave up); await before each command. */
  connected(): Promise<void>;
  /** QUIT, bounded; the socket is dropped whatever happens. */
  close(): Promise<void>;
}

const ERROR_LOG_INTERVAL_MS = 10_000;

export function openBoundedRedis(options: BoundedRedisOptions): BoundedRedis {
  const timeoutMs = options.commandTimeoutMs;
  const client = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
  });
  let errorLoggedAtMs = 0;
  client.on("error", (error: Error) => {
    // A dead Redis repeats its error on every reconnect; one line per interval tells the story.
    if (Date.now() - errorLoggedAtMs < ERROR_LOG_INTERVAL_MS) return;
    errorLoggedAtMs = Date.now();
    options.logger?.warn("redis connection error", { error: error.message });
  });

  let connecting: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  return {
    client,
    connected() {
      if (client.status === "wait") connecting ??= client.connect().finally(() => connecting = undefined);
      return connecting ?? Promise.resolve();
    },
    close() {
      closing ??= (async () => {
        if (client.status === "wait" || client.status === "end") {
          client.disconnect();
          return;
        }
        let timer: ReturnType<typeof setTimeout> | undefined;
        try {
          await Promise.race([
            client.quit().catch(() => {}),
            new Promise((resolve) => timer = setTimeout(resolve, timeoutMs * 4)),
          ]);
        } finally {
          clearTimeout(timer);
          client.disconnect();
        }
      })();
      return closing;
    },
  };
}
