/**
 * IdempotencyStore on Redis. Each (scope, key) is one hash holding the
 * request's fingerprint, the claim token while it runs and the response
 * once it finished; every transition is one Lua script, so it is atomic
 * across any number of payment replicas. An unfinished claim expires after
 * the lock TTL, a response after the TTL (at least 24 h in production).
 */

import { Buffer } from "node:buffer";
import type { Logger } from "../log.ts";
import { openBoundedRedis } from "../redis.ts";
import {
  assertStoreArguments,
  assertTtls,
  type BeginResult,
  IDEMPOTENCY_LOCK_TTL_MS_DEFAULT,
  IDEMPOTENCY_TTL_MS_DEFAULT,
  type IdempotencyStore,
} from "./types.ts";

export interface RedisIdempotencyStoreOptions {
  /** `redis://[user:password@]host:port[/db]`. */
  readonly url: string;
  /** Prepended to every key, so that tests and tenants never meet. Default `securepay:idem:`. */
  readonly keyPrefix?: string;
  readonly ttlMs?: number;
  readonly lockTtlMs?: number;
  /** Longest wait for one command, connecting included. Default 1000. */
  readonly commandTimeoutMs?: number;
  readonly logger?: Logger;
}

// HMGET answers false for a missing field inside Lua.
const BEGIN = `
local e = redis.call('HMGET', KEYS[1], 'fp', 'resp')
if not e[1] then
  redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'token', ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {'new'}
end
if e[1] ~= ARGV[1] then return {'mismatch'} end
if e[2] then return {'replay', e[2]} end
return {'in_use'}
`;

const COMPLETE = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'token')
redis.call('HSET', KEYS[1], 'resp', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
`;

const ABANDON = `
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`;

type Arg = string | Buffer | number;

/** The scripts as ioredis defines them (EVALSHA, falling back to EVAL once per connection). */
interface ScriptedRedis {
  idemBeginBuffer(key: string, fingerprint: string, token: string, lockTtlMs: number): Promise<Buffer[]>;
  idemComplete(key: string, ...args: Arg[]): Promise<number>;
  idemAbandon(key: string, token: string): Promise<number>;
}

export function redisIdempotencyStore(options: RedisIdempotencyStoreOptions): IdempotencyStore {
  const ttls = {
    ttlMs: options.ttlMs ?? IDEMPOTENCY_TTL_MS_DEFAULT,
    lockTtlMs: options.lockTtlMs ?? IDEMPOTENCY_LOCK_TTL_MS_DEFAULT,
  };
  assertTtls(ttls);
  const prefix = options.keyPrefix ?? "securepay:idem:";
  const timeoutMs = options.commandTimeoutMs ?? 1_000;
  const connection = openBoundedRedis({ url: options.url, commandTimeoutMs: timeoutMs, logger: options.logger });
  const redis = connection.client;
  redis.defineCommand("idemBegin", { numberOfKeys: 1, lua: BEGIN });
  redis.defineCommand("idemComplete", { numberOfKeys: 1, lua: COMPLETE });
  redis.defineCommand("idemAbandon", { numberOfKeys: 1, lua: ABANDON });
  const scripts = redis as unknown as ScriptedRedis;
  const keyOf = (scope: string, key: string) => `${prefix}${scope.length}:${scope}:${key}`;
  const connected = connection.connected;

  return {
    async begin(scope, key, fingerprint): Promise<BeginResult> {
      assertStoreArguments(scope, key);
      await connected();
      const token = crypto.randomUUID();
      const reply = await scripts.idemBeginBuffer(keyOf(scope, key), fingerprint, token, ttls.lockTtlMs);
      const kind = reply[0]?.toString("utf8");
      switch (kind) {
        case "new":
          return { kind, token };
        case "replay":
          // A plain Uint8Array copy: callers compare and re-encode bytes, not Buffers.
          return { kind, response: new Uint8Array(reply[1] ?? new Uint8Array()) };
        case "in_use":
        case "mismatch":
          return { kind };
        default:
          throw new Error(`Cannot read the idempotency store's answer as it is unknown: ${kind}`);
      }
    },

    async complete(scope, key, token, response) {
      assertStoreArguments(scope, key, { response });
      await connected();
      const bytes = Buffer.from(response.buffer, response.byteOffset, response.byteLength);
      return await scripts.idemComplete(keyOf(scope, key), token, bytes, ttls.ttlMs) === 1;
    },

    async abandon(scope, key, token) {
      assertStoreArguments(scope, key);
      await connected();
      return await scripts.idemAbandon(keyOf(scope, key), token) === 1;
    },

    async ping() {
      await connected();
      await redis.ping();
    },

    close() {
      return connection.close();
    },
    [Symbol.asyncDispose]() {
      return this.close();
    },
  };
}
