/**
 * Concurrent live realtime requests per environment (checklist #37, contract §3.4;
 * docs/decisions/0xx-realtime-concurrency-limiter.md).
 *
 * A Redis sorted set per environment (`<prefix>realtime:concurrency:<envId>`), one member per
 * in-flight live request, scored with Redis `TIME` (never the app clock, so instances with skewed
 * clocks agree). Admission is one Lua script: sweep entries older than the TTL, count, add if under
 * the limit. A waiting request's entry is refreshed every TTL/3 by one batched script per key, so
 * the entries of a crashed instance (which stops refreshing) are swept within the TTL. Release is
 * a ZREM, called from the proxy's `finally`.
 *
 * Redis unreachable: policy "open" admits (counted and logged once per interval), "closed" refuses.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.server";

// KEYS[1] = set; ARGV = member, limit, ttlMs → {admitted 0|1, count}
const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
local count = redis.call('ZCARD', KEYS[1])
if count >= tonumber(ARGV[2]) then
  return {0, count}
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl * 2)
return {1, count + 1}
`;

// KEYS[1] = set; ARGV = ttlMs, members… → number refreshed (XX: never resurrects a released member)
const REFRESH_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = 0
for i = 2, #ARGV do
  n = n + redis.call('ZADD', KEYS[1], 'XX', 'CH', now, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return n
`;

// KEYS[1] = set; ARGV = ttlMs → live entries after the sweep
const USAGE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
return redis.call('ZCARD', KEYS[1])
`;

type LimiterRedis = Redis & {
  realtimeLimiterAcquire(key: string, member: string, limit: number, ttlMs: number): Promise<[number, number]>;
  realtimeLimiterRefresh(key: string, ttlMs: number, ...members: string[]): Promise<number>;
  realtimeLimiterUsage(key: string, ttlMs: number): Promise<number>;
};

export type RedisDownPolicy = "open" | "closed";

export interface ConcurrencyLimiterOptions {
  redis: Redis;
  /** REDIS_KEY_PREFIX. */
  keyPrefix: string;
  /** Entries not refreshed for this long are swept (REALTIME_LIMITER_ENTRY_TTL_MS). */
  entryTtlMs: number;
  redisDownPolicy: RedisDownPolicy;
  metrics?: Pick<Metrics, "realtimeConcurrent" | "realtimeRejected" | "limiterRedisErrors">;
  logger?: Pick<Logger, "warn">;
  /** A Redis call slower than this counts as Redis down (default 1 s). */
  redisTimeoutMs?: number;
  /** At most one "Redis down" log line per interval (default 60 s). */
  logIntervalMs?: number;
}

export type Admission =
  | { kind: "admitted"; release: () => Promise<void>; degraded: boolean }
  | { kind: "rejected"; count: number }
  | { kind: "unavailable" };

export class LimiterRedisError extends Error {
  override name = "LimiterRedisError";
}

export class ConcurrencyLimiter {
  readonly #redis: LimiterRedis;
  readonly #options: Required<Omit<ConcurrencyLimiterOptions, "metrics" | "logger">> &
    Pick<ConcurrencyLimiterOptions, "metrics" | "logger">;
  /** In-flight members of this instance, by key, refreshed together. */
  readonly #inflight = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #lastLog = 0;

  constructor(options: ConcurrencyLimiterOptions) {
    this.#options = { redisTimeoutMs: 1000, logIntervalMs: 60_000, ...options };
    const redis = options.redis as LimiterRedis;
    if (typeof redis.realtimeLimiterAcquire !== "function") {
      redis.defineCommand("realtimeLimiterAcquire", { numberOfKeys: 1, lua: ACQUIRE_LUA });
      redis.defineCommand("realtimeLimiterRefresh", { numberOfKeys: 1, lua: REFRESH_LUA });
      redis.defineCommand("realtimeLimiterUsage", { numberOfKeys: 1, lua: USAGE_LUA });
    }
    this.#redis = redis;
  }

  key(environmentId: string): string {
    return `${this.#options.keyPrefix}realtime:concurrency:${environmentId}`;
  }

  get refreshIntervalMs(): number {
    return Math.max(50, Math.floor(this.#options.entryTtlMs / 3));
  }

  async acquire(environmentId: string, limit: number): Promise<Admission> {
    const key = this.key(environmentId);
    const member = randomUUID();
    let result: [number, number];
    try {
      result = await this.#withTimeout(this.#redis.realtimeLimiterAcquire(key, member, limit, this.#options.entryTtlMs));
    } catch (error) {
      this.#options.metrics?.limiterRedisErrors.inc();
      this.#logRedisDown(error);
      if (this.#options.redisDownPolicy === "closed") return { kind: "unavailable" };
      return { kind: "admitted", degraded: true, release: async () => {} };
    }
    const [admitted, count] = result;
    if (admitted !== 1) {
      this.#options.metrics?.realtimeRejected.inc({ environment: environmentId });
      return { kind: "rejected", count };
    }
    this.#track(key, member);
    this.#options.metrics?.realtimeConcurrent.inc({ environment: environmentId });
    let released = false;
    return {
      kind: "admitted",
      degraded: false,
      release: async () => {
        if (released) return;
        released = true;
        this.#untrack(key, member);
        this.#options.metrics?.realtimeConcurrent.dec({ environment: environmentId });
        try {
          await this.#withTimeout(this.#redis.zrem(key, member));
        } catch (error) {
          // The entry stops being refreshed and is swept within the TTL.
          this.#options.metrics?.limiterRedisErrors.inc();
          this.#logRedisDown(error);
        }
      },
    };
  }

  /** Live requests per environment right now, across all instances (sweeps stale entries first). */
  async usage(environmentIds: readonly string[]): Promise<Record<string, number>> {
    const pipeline = this.#redis.pipeline() as ReturnType<Redis["pipeline"]> & {
      realtimeLimiterUsage(key: string, ttlMs: number): unknown;
    };
    for (const id of environmentIds) pipeline.realtimeLimiterUsage(this.key(id), this.#options.entryTtlMs);
    const results = (await pipeline.exec()) ?? [];
    const usage: Record<string, number> = {};
    environmentIds.forEach((id, i) => {
      const [error, value] = results[i] ?? [new Error("no result"), 0];
      if (error) throw new LimiterRedisError(`realtime usage for ${id}: ${error.message}`);
      usage[id] = Number(value);
    });
    return usage;
  }

  /** Refreshes every in-flight entry of this instance now (the timer calls this every TTL/3). */
  async refresh(): Promise<void> {
    const pipeline = this.#redis.pipeline() as ReturnType<Redis["pipeline"]> & {
      realtimeLimiterRefresh(key: string, ttlMs: number, ...members: string[]): unknown;
    };
    let any = false;
    for (const [key, members] of this.#inflight) {
      if (members.size === 0) continue;
      pipeline.realtimeLimiterRefresh(key, this.#options.entryTtlMs, ...members);
      any = true;
    }
    if (!any) return;
    try {
      await this.#withTimeout(pipeline.exec());
    } catch (error) {
      this.#options.metrics?.limiterRedisErrors.inc();
      this.#logRedisDown(error);
    }
  }

  /** Stops refreshing (the entries of this instance then expire within the TTL). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#inflight.clear();
  }

  #track(key: string, member: string) {
    let members = this.#inflight.get(key);
    if (!members) this.#inflight.set(key, (members = new Set()));
    members.add(member);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.refresh(), this.refreshIntervalMs);
      this.#timer.unref();
    }
  }

  #untrack(key: string, member: string) {
    const members = this.#inflight.get(key);
    if (!members) return;
    members.delete(member);
    if (members.size === 0) this.#inflight.delete(key);
    if (this.#inflight.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #withTimeout<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LimiterRedisError("Redis did not answer in time")), this.#options.redisTimeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  #logRedisDown(error: unknown) {
    const now = Date.now();
    if (now - this.#lastLog < this.#options.logIntervalMs) return;
    this.#lastLog = now;
    this.#options.logger?.warn(
      { err: error instanceof Error ? error.message : String(error), policy: this.#options.redisDownPolicy },
      "realtime concurrency limiter: Redis unreachable",
    );
  }
}
