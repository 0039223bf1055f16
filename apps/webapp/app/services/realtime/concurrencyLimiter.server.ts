/**
 * Concurrent live realtime requests per environment (checklist #37, contract §3.4;
 * docs/decisions/050-realtime-concurrency-limiter.md).
 *
 * A Redis sorted set per environment (`<prefix>realtime:concurrency:<envId>`), one member per
 * in-flight live request, scored with Redis `TIME` (never the app clock, so instances with skewed
 * clocks agree). Admission is one Lua script: count, sweep entries older than the TTL when that could
 * matter, add if under the limit; concurrent acquires (and releases) of one environment are batched
 * into one call per event-loop turn. A waiting request's entry is refreshed every TTL/3 by one batched script per key, so
 * the entries of a crashed instance (which stops refreshing) are swept within the TTL. Release is
 * a ZREM, called from the proxy's `finally`.
 *
 * Redis unreachable: policy "open" admits (counted and logged once per interval), "closed" refuses.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.server";

// KEYS[1] = set; ARGV = limit, ttlMs, member… → number admitted (the first k members, in order).
// Acquires that arrive in the same event-loop turn for one environment share one call (see #flush),
// which is how "exactly N of N+k concurrent requests" holds and why the script takes many members.
// The hot path is ZCARD, TIME, ZADD: stale entries only matter when they would refuse a request, so
// the sweep runs only when the set would go over the limit (and in every refresh and usage call).
// A new key gets its expiry here; the refresh script keeps it alive while requests are in flight.
const ACQUIRE_LUA = `
local count = redis.call('ZCARD', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local n = #ARGV - 2
if count + n > limit then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
  count = redis.call('ZCARD', KEYS[1])
end
local admit = math.min(n, limit - count)
if admit <= 0 then
  return 0
end
local args = {}
for i = 1, admit do
  args[2 * i - 1] = now
  args[2 * i] = ARGV[i + 2]
end
redis.call('ZADD', KEYS[1], unpack(args))
if count == 0 then
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
end
return admit
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
  realtimeLimiterAcquire(key: string, limit: number, ttlMs: number, ...members: string[]): Promise<number>;
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
  | { kind: "rejected" }
  | { kind: "unavailable" };

/** Members per acquire script call (Lua's unpack limit is far above; keeps one call short). */
const MAX_BATCH = 500;

interface AcquireBatch {
  limit: number;
  members: string[];
  resolvers: Array<(outcome: boolean | Error) => void>;
}

interface ReleaseBatch {
  members: string[];
  resolvers: Array<() => void>;
}

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
  readonly #acquires = new Map<string, AcquireBatch>();
  readonly #releases = new Map<string, ReleaseBatch>();
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

  /**
   * Asks for a slot. Acquires for one environment issued in the same event-loop turn are sent as one
   * script call (at most MAX_BATCH members), and releases likewise as one ZREM: a thousand live polls
   * woken by one change come back in a burst, and one Redis call per burst is what keeps the limiter
   * cheap beside the proxy (bench/realtime).
   */
  acquire(environmentId: string, limit: number): Promise<Admission> {
    const key = this.key(environmentId);
    const member = `${this.#instanceId}:${++this.#sequence}`;
    return new Promise<boolean | Error>((resolve) => {
      let batch = this.#acquires.get(key);
      if (!batch || batch.members.length >= MAX_BATCH) {
        batch = { limit, members: [], resolvers: [] };
        this.#acquires.set(key, batch);
        const pending = batch;
        setImmediate(() => void this.#flushAcquires(key, pending));
      }
      batch.members.push(member);
      batch.resolvers.push(resolve);
    }).then((outcome) => this.#admission(environmentId, key, member, outcome));
  }

  async #flushAcquires(key: string, batch: AcquireBatch) {
    if (this.#acquires.get(key) === batch) this.#acquires.delete(key);
    let admitted: number | Error;
    try {
      admitted = await this.#call(
        this.#redis.realtimeLimiterAcquire(key, batch.limit, this.#options.entryTtlMs, ...batch.members),
      );
    } catch (error) {
      admitted = error instanceof Error ? error : new Error(String(error));
    }
    batch.resolvers.forEach((resolve, i) => resolve(admitted instanceof Error ? admitted : i < admitted));
  }

  #admission(environmentId: string, key: string, member: string, outcome: boolean | Error): Admission {
    if (outcome instanceof Error) {
      this.#options.metrics?.limiterRedisErrors.inc();
      this.#logRedisDown(outcome);
      if (this.#options.redisDownPolicy === "closed") return { kind: "unavailable" };
      return { kind: "admitted", degraded: true, release: async () => {} };
    }
    if (!outcome) {
      this.#options.metrics?.realtimeRejected.inc({ environment: environmentId });
      return { kind: "rejected" };
    }
    this.#track(key, member);
    this.#options.metrics?.realtimeConcurrent.inc({ environment: environmentId });
    let released = false;
    return {
      kind: "admitted",
      degraded: false,
      release: () => {
        if (released) return Promise.resolve();
        released = true;
        this.#untrack(key, member);
        this.#options.metrics?.realtimeConcurrent.dec({ environment: environmentId });
        return this.#release(key, member);
      },
    };
  }

  /** Queues a ZREM; members of one key released in the same turn go out as one command. */
  #release(key: string, member: string): Promise<void> {
    return new Promise<void>((resolve) => {
      let batch = this.#releases.get(key);
      if (!batch) {
        batch = { members: [], resolvers: [] };
        this.#releases.set(key, batch);
        const pending = batch;
        setImmediate(() => void this.#flushReleases(key, pending));
      }
      batch.members.push(member);
      batch.resolvers.push(resolve);
    });
  }

  async #flushReleases(key: string, batch: ReleaseBatch) {
    if (this.#releases.get(key) === batch) this.#releases.delete(key);
    try {
      await this.#call(this.#redis.zrem(key, ...batch.members));
    } catch (error) {
      // The entries are no longer refreshed and are swept within the TTL.
      this.#options.metrics?.limiterRedisErrors.inc();
      this.#logRedisDown(error);
    }
    for (const resolve of batch.resolvers) resolve();
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
        this.#watchdog = setInterval(
          () => this.#checkHung(),
          Math.max(10, Math.floor(this.#options.redisTimeoutMs / 4)),
        );
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
      this.#logRedisDown(
        new LimiterRedisError(`Redis did not answer for ${this.#options.redisTimeoutMs} ms; reconnecting`),
      );
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
