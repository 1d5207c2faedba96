/**
 * The balance cache on Redis: one hash per account (`v` = version, `d` =
 * the account as JSON; no `d` marks an invalidation), written only by Lua
 * scripts that compare versions, so a put and an invalidation are atomic.
 * Every command is bounded by a timeout; callers treat a failure as a miss.
 */

import { type Logger, openBoundedRedis } from "@securepay/shared";
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
  const connection = openBoundedRedis({ url: options.url, commandTimeoutMs: timeoutMs, logger: options.logger });
  const redis = connection.client;
  redis.defineCommand("balancePut", { numberOfKeys: 1, lua: PUT });
  redis.defineCommand("balanceInvalidate", { numberOfKeys: 1, lua: INVALIDATE });
  const scripted = redis as unknown as ScriptedRedis;
  const keyOf = (id: string) => `${prefix}${id.toLowerCase()}`;

  const connected = connection.connected;
  const close = connection.close;

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
