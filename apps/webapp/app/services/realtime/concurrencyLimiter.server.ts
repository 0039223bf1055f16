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

// KEYS[1] = set; ARGV = member, limit, ttlMs → count after admission (> 0), or −1 − count when refused.
// The hot path is three calls (ZCARD, TIME, ZADD): stale entries only matter when they would refuse a
// request, so the sweep runs when the set is at the limit (and in every refresh and usage call).
// A new key gets its expiry here; the refresh script keeps it alive while requests are in flight.
const ACQUIRE_LUA = `
local count = redis.call('ZCARD', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
if count >= limit then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
  count = redis.call('ZCARD', KEYS[1])
  if count >= limit then
    return -1 - count
  end
end
redis.call('ZADD', KEYS[1], now, ARGV[1])
if count == 0 then
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
end
return count + 1
`;

// KEYS[1] = set; ARGV = ttlMs, members… → number of members written.
// Plain ZADD (not XX): a member lost with an expired key is put back. A released member is never
// resurrected: this instance stops listing it before sending its ZREM on the same connection.
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

type LimiterRedis = Redis & {
  realtimeLimiterAcquire(key: string, member: string, limit: number, ttlMs: number): Promise<number>;
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
  /** No answer from Redis for this long while calls are pending counts as Redis down (default 2 s). */
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
  #watchdog: NodeJS.Timeout | undefined;
  #callsInFlight = 0;
  #lastProgress = 0;
  #lastLog = 0;
  /** Members are `<instance uuid>:<sequence>`: unique across instances, cheap to make. */
  readonly #instanceId = randomUUID();
  #sequence = 0;

  constructor(options: ConcurrencyLimiterOptions) {
    this.#options = { redisTimeoutMs: 2000, logIntervalMs: 60_000, ...options };
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
    const member = `${this.#instanceId}:${++this.#sequence}`;
    let result: number;
    try {
      result = await this.#call(this.#redis.realtimeLimiterAcquire(key, member, limit, this.#options.entryTtlMs));
    } catch (error) {
      this.#options.metrics?.limiterRedisErrors.inc();
      this.#logRedisDown(error);
      if (this.#options.redisDownPolicy === "closed") return { kind: "unavailable" };
      return { kind: "admitted", degraded: true, release: async () => {} };
    }
    if (result < 0) {
      this.#options.metrics?.realtimeRejected.inc({ environment: environmentId });
      return { kind: "rejected", count: -1 - result };
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
          await this.#call(this.#redis.zrem(key, member));
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
      await this.#call(pipeline.exec());
    } catch (error) {
      this.#options.metrics?.limiterRedisErrors.inc();
      this.#logRedisDown(error);
    }
  }

  /** Stops refreshing (the entries of this instance then expire within the TTL). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#timer = undefined;
    this.#watchdog = undefined;
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

  /**
   * Tracks calls in flight so that a hung Redis cannot hold live requests hostage: when calls are
   * pending and nothing has answered for redisTimeoutMs, the watchdog drops the connection, which
   * fails every pending call (→ the Redis-down policy) and reconnects. Costs a counter per call, not a
   * timer per call: the limiter sits on every live poll (bench/realtime). Give the limiter its own
   * connection (createRealtimeServices does).
   */
  async #call<T>(promise: Promise<T>): Promise<T> {
    if (this.#callsInFlight++ === 0) {
      this.#lastProgress = Date.now();
      if (!this.#watchdog) {
        this.#watchdog = setInterval(() => this.#checkHung(), Math.max(10, Math.floor(this.#options.redisTimeoutMs / 4)));
        this.#watchdog.unref();
      }
    }
    try {
      return await promise;
    } finally {
      this.#callsInFlight--;
      this.#lastProgress = Date.now();
    }
  }

  #checkHung() {
    if (this.#callsInFlight === 0) {
      clearInterval(this.#watchdog);
      this.#watchdog = undefined;
      return;
    }
    if (Date.now() - this.#lastProgress > this.#options.redisTimeoutMs) {
      this.#lastProgress = Date.now();
      this.#logRedisDown(new LimiterRedisError(`Redis did not answer for ${this.#options.redisTimeoutMs} ms; reconnecting`));
      this.#redis.disconnect(true);
    }
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
