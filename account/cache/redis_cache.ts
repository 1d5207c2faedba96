/**
 * The balance cache on Redis: one hash per account (`v` = version, `d` =
 * the account as JSON; no `d` marks an invalidation), written only by Lua
 * scripts that compare versions, so a put and an invalidation are atomic.
 * Every command is bounded by a timeout; callers treat a failure as a miss.
 */

import { Redis } from "ioredis";
import type { Logger } from "@securepay/shared";
import {
  assertVersion,
  BALANCE_CACHE_TTL_MS_DEFAULT,
  type BalanceCache,
  fromStored,
  type StoredAccount,
  toStored,
} from "./balance_cache.ts";

export interface RedisBalanceCacheOptions {
  /** redis:// or rediss:// URL. */
  url: string;
  /** Prepended to every key, so that programs and test runs share a Redis without meeting. */
  keyPrefix?: string;
  ttlMs?: number;
  /** Bound on connecting and on each command. Default 250. */
  commandTimeoutMs?: number;
  logger?: Logger;
}

export const REDIS_KEY_PREFIX_DEFAULT = "securepay:account:balance:";

// Caches the value unless the key holds this version or a newer one, or an
// invalidation above it. Returns 1 when stored.
const PUT = `
local current = redis.call('HGET', KEYS[1], 'v')
local version = tonumber(ARGV[1])
if current then
  local floor = tonumber(current)
  if redis.call('HEXISTS', KEYS[1], 'd') == 1 then
    if version <= floor then return 0 end
  elseif version < floor then
    return 0
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

// Replaces anything older than the version with a mark that refuses older
// puts until it expires. Returns 1 when it marked the key.
const INVALIDATE = `
local current = redis.call('HGET', KEYS[1], 'v')
if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

interface ScriptedRedis {
  balancePut(key: string, version: string, json: string, ttlMs: number): Promise<number>;
}

/** Invalidations sent in one pipeline at most. */
const INVALIDATE_PIPELINE_MAX = 1000;

export function redisBalanceCache(options: RedisBalanceCacheOptions): BalanceCache {
  const prefix = options.keyPrefix ?? REDIS_KEY_PREFIX_DEFAULT;
  const ttlMs = options.ttlMs ?? BALANCE_CACHE_TTL_MS_DEFAULT;
  const timeoutMs = options.commandTimeoutMs ?? 250;
  if (!Number.isInteger(ttlMs) || ttlMs < 1) {
    throw new RangeError(`Cannot create a balance cache as ttlMs must be a positive integer: ${ttlMs}`);
  }
  const redis = new Redis(options.url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    // Fail a command after one reconnect attempt rather than queue it: the database answers instead.
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
  });
  let errorLoggedAtMs = 0;
  redis.on("error", (error: Error) => {
    // A dead Redis repeats its error on every reconnect; one line per 10 s tells the story.
    if (Date.now() - errorLoggedAtMs < 10_000) return;
    errorLoggedAtMs = Date.now();
    options.logger?.warn("redis connection error", { error: error.message });
  });
  redis.defineCommand("balancePut", { numberOfKeys: 1, lua: PUT });
  redis.defineCommand("balanceInvalidate", { numberOfKeys: 1, lua: INVALIDATE });
  const scripted = redis as unknown as ScriptedRedis;
  const keyOf = (id: string) => `${prefix}${id.toLowerCase()}`;

  let connecting: Promise<void> | undefined;
  const connected = () => {
    if (redis.status === "wait") connecting ??= redis.connect().finally(() => connecting = undefined);
    return connecting ?? Promise.resolve();
  };

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      if (redis.status === "wait" || redis.status === "end") {
        redis.disconnect();
        return;
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([
          redis.quit().catch(() => {}),
          new Promise((resolve) => timer = setTimeout(resolve, timeoutMs * 4)),
        ]);
      } finally {
        clearTimeout(timer);
        redis.disconnect();
      }
    })();
    return closing;
  };

  return {
    async get(id) {
      await connected();
      const [, json] = await redis.hmget(keyOf(id), "v", "d");
      if (json === null || json === undefined) return undefined;
      return fromStored(JSON.parse(json) as StoredAccount);
    },
    async put(account) {
      assertVersion(account.version);
      await connected();
      await scripted.balancePut(keyOf(account.id), String(account.version), JSON.stringify(toStored(account)), ttlMs);
    },
    async invalidate(accounts) {
      for (const { version } of accounts) assertVersion(version);
      if (accounts.length === 0) return;
      await connected();
      for (let start = 0; start < accounts.length; start += INVALIDATE_PIPELINE_MAX) {
        const pipeline = redis.pipeline() as unknown as {
          balanceInvalidate(key: string, version: string, ttlMs: number): void;
          exec(): Promise<[Error | null, unknown][] | null>;
        };
        for (const { id, version } of accounts.slice(start, start + INVALIDATE_PIPELINE_MAX)) {
          pipeline.balanceInvalidate(keyOf(id), String(version), ttlMs);
        }
        const results = await pipeline.exec();
        const failed = results?.find(([error]) => error !== null)?.[0];
        if (failed) throw failed;
      }
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
