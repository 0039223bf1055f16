/**
 * The realtime concurrency limiter's Redis scripts (docs/decisions/050-realtime-concurrency-limiter.md).
 * Scores are Redis `TIME` in ms, never the app clock, so instances with skewed clocks agree.
 */
import type { Redis } from "ioredis";
import { LimiterRedisError } from "./redisWatchdog.server";

// KEYS[1] = set; ARGV = limit, ttlMs, forced, member… → { admitted, count after }.
// The first `forced` members were admitted optimistically by the instance (well below the limit) and
// are always added; the rest are admitted in order while there is room, counting the forced ones.
// Acquires that arrive together for one environment share one call, which is how "exactly N of N+k
// concurrent requests" holds and why the script takes many members. The hot path is ZCARD, TIME,
// ZADD: stale entries only matter when they would refuse a request, so the sweep runs only when the
// set would go over the limit (and in every refresh and usage call). A new key gets its expiry here;
// the refresh script keeps it alive while requests are in flight.
const ACQUIRE_LUA = `
local count = redis.call('ZCARD', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local forced = tonumber(ARGV[3])
local n = #ARGV - 3 - forced
local fresh = count == 0
if count + forced + n > limit then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
  count = redis.call('ZCARD', KEYS[1])
end
local admit = math.max(0, math.min(n, limit - count - forced))
local args = {}
for i = 1, forced + admit do
  args[2 * i - 1] = now
  args[2 * i] = ARGV[i + 3]
end
if #args > 0 then
  redis.call('ZADD', KEYS[1], unpack(args))
  if fresh then
    redis.call('PEXPIRE', KEYS[1], ttl * 2)
  end
end
return { admit, redis.call('ZCARD', KEYS[1]) }
`;

// KEYS[1] = set; ARGV = ttlMs, members… → number of members written.
// Plain ZADD (not XX): a member lost with an expired key is put back. A released member is never
// resurrected: the instance stops listing it before sending its ZREM on the same connection.
const REFRESH_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local n = 0
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now, ARGV[i])
  n = n + 1
end
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return n
`;

// KEYS[1] = set; ARGV = ttlMs → live entries after the sweep
const USAGE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
`;

export type LimiterRedis = Redis & {
  realtimeLimiterAcquire(
    key: string,
    limit: number,
    ttlMs: number,
    forced: number,
    ...members: string[]
  ): Promise<[number, number]>;
  realtimeLimiterRefresh(key: string, ttlMs: number, ...members: string[]): Promise<number>;
  realtimeLimiterUsage(key: string, ttlMs: number): Promise<number>;
};

export type LimiterPipeline = ReturnType<Redis["pipeline"]> & {
  realtimeLimiterRefresh(key: string, ttlMs: number, ...members: string[]): unknown;
  realtimeLimiterUsage(key: string, ttlMs: number): unknown;
};

/** The connection with the limiter's scripts defined on it (once per connection). */
export function limiterRedis(redis: Redis): LimiterRedis {
  const r = redis as LimiterRedis;
  if (typeof r.realtimeLimiterAcquire !== "function") {
    r.defineCommand("realtimeLimiterAcquire", { numberOfKeys: 1, lua: ACQUIRE_LUA });
    r.defineCommand("realtimeLimiterRefresh", { numberOfKeys: 1, lua: REFRESH_LUA });
    r.defineCommand("realtimeLimiterUsage", { numberOfKeys: 1, lua: USAGE_LUA });
  }
  return r;
}

/** Live entries of each key right now, after sweeping stale ones (one pipelined script per key). */
export async function limiterUsage(redis: LimiterRedis, keys: readonly string[], ttlMs: number): Promise<number[]> {
  const pipeline = redis.pipeline() as LimiterPipeline;
  for (const key of keys) pipeline.realtimeLimiterUsage(key, ttlMs);
  const results = (await pipeline.exec()) ?? [];
  return keys.map((key, i) => {
    const [error, value] = results[i] ?? [new Error("no result"), 0];
    if (error) throw new LimiterRedisError(`realtime usage of ${key}: ${error.message}`);
    return Number(value);
  });
}

/** Refreshes the given entries (one pipelined script per key); undefined when there are none. */
export function refreshEntries(
  redis: LimiterRedis,
  entries: ReadonlyMap<string, ReadonlySet<string>>,
  ttlMs: number,
): Promise<unknown> | undefined {
  const pipeline = redis.pipeline() as LimiterPipeline;
  let any = false;
  for (const [key, members] of entries) {
    if (members.size === 0) continue;
    pipeline.realtimeLimiterRefresh(key, ttlMs, ...members);
    any = true;
  }
  return any ? pipeline.exec() : undefined;
}
