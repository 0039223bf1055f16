/**
 * Concurrent live realtime requests per environment (checklist #37, contract §3.4;
 * docs/decisions/050-realtime-concurrency-limiter.md).
 *
 * A Redis sorted set per environment (`<prefix>realtime:concurrency:<envId>`), one member per
 * in-flight live request, scored with Redis `TIME` (concurrencyLimiterScripts.server.ts). Admission is
 * one Lua script; concurrent acquires (and releases) of one environment are batched into one call per
 * event-loop turn. A waiting request's entry is refreshed every TTL/3 by one batched script per key, so
 * the entries of a crashed instance (which stops refreshing) are swept within the TTL. Release is a
 * ZREM, called from the proxy's `finally`.
 *
 * Optimistic admission (`optimistic`, the long-polls): while the environment's count as Redis last
 * reported it (at most TTL/3 ago) plus this instance's admissions since stays below
 * `optimisticFraction` × limit, a request is admitted at once and its entry is registered with the
 * next batch (within OPTIMISTIC_FLUSH_MS), off the request's path. Above that share, or without a
 * recent count, admission waits for Redis as before.
 *
 * Redis unreachable: policy "open" admits (counted and logged once per interval), "closed" refuses.
 */
import { randomUUID } from "node:crypto";
import type { Redis } from "ioredis";
import type { Logger } from "pino";
import type { Metrics } from "../metrics.server";
import { type LimiterRedis, limiterRedis, limiterUsage, refreshEntries } from "./concurrencyLimiterScripts.server";
import { LimiterReleases } from "./limiterReleases.server";
import { LimiterRedisError, RedisWatchdog } from "./redisWatchdog.server";

export { LimiterRedisError };

export type RedisDownPolicy = "open" | "closed";

export interface ConcurrencyLimiterOptions {
  redis: Redis;
  /** REDIS_KEY_PREFIX. */
  keyPrefix: string;
  /** Entries not refreshed for this long are swept (REALTIME_LIMITER_ENTRY_TTL_MS). */
  entryTtlMs: number;
  redisDownPolicy: RedisDownPolicy;
  /**
   * Below this share of the limit, optimistic acquires are admitted without waiting for Redis
   * (REALTIME_LIMITER_OPTIMISTIC_FRACTION; 0 = never).
   */
  optimisticFraction?: number;
  metrics?: Pick<Metrics, "sources" | "realtimeRejected" | "limiterRedisErrors">;
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
/** How long optimistic admissions wait to be registered together (a woken burst: a few calls, not hundreds). */
export const OPTIMISTIC_FLUSH_MS = 5;

interface AcquireBatch {
  limit: number;
  /** Admitted already (optimistically): always added. */
  forced: string[];
  /** Waiting for the script's answer. */
  members: string[];
  resolvers: Array<(outcome: boolean | Error) => void>;
  sent: boolean;
}

/** One admitted request's slot, until released. */
interface Slot {
  environmentId: string;
  key: string;
  member: string;
  /** The batch that will register the member, for an optimistic admission. */
  unsent: AcquireBatch | undefined;
  released: boolean;
}

/** What this instance knows of a key's count: Redis's last answer, plus its own admissions since. */
interface KnownCount {
  count: number;
  at: number;
}

export class ConcurrencyLimiter {
  readonly #redis: LimiterRedis;
  readonly #options: Required<Omit<ConcurrencyLimiterOptions, "metrics" | "logger">> &
    Pick<ConcurrencyLimiterOptions, "metrics" | "logger">;
  readonly #watchdog: RedisWatchdog;
  /** In-flight members of this instance, by key, refreshed together. */
  readonly #inflight = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #lastLog = 0;
  readonly #acquires = new Map<string, AcquireBatch>();
  readonly #releases: LimiterReleases;
  readonly #known = new Map<string, KnownCount>();
  /** Members are `<instance uuid>:<sequence>`: unique across instances, cheap to make. */
  readonly #instanceId = randomUUID();
  #sequence = 0;
  /** Admitted and not yet released on this instance, by environment id (the concurrent-requests gauge). */
  readonly #concurrent = new Map<string, number>();

  constructor(options: ConcurrencyLimiterOptions) {
    this.#options = { redisTimeoutMs: 2000, logIntervalMs: 60_000, optimisticFraction: 0, ...options };
    this.#redis = limiterRedis(options.redis);
    this.#watchdog = new RedisWatchdog({
      redis: this.#redis,
      timeoutMs: this.#options.redisTimeoutMs,
      onHung: (error) => this.#logRedisDown(error),
    });
    if (options.metrics) options.metrics.sources.realtimeConcurrent = () => this.#concurrent;
    this.#releases = new LimiterReleases(
      this.#redis,
      (promise) => this.#watchdog.call(promise),
      (error) => {
        this.#options.metrics?.limiterRedisErrors.inc();
        this.#logRedisDown(error);
      },
    );
  }

  key(environmentId: string): string {
    return `${this.#options.keyPrefix}realtime:concurrency:${environmentId}`;
  }

  get refreshIntervalMs(): number {
    return Math.max(50, Math.floor(this.#options.entryTtlMs / 3));
  }

  /**
   * Asks for a slot; acquires of one environment in the same turn share one script call (a woken
   * burst: one Redis call, not one per poll). `optimistic`: may be admitted at once (see the header).
   */
  acquire(environmentId: string, limit: number, options: { optimistic?: boolean } = {}): Promise<Admission> {
    const key = this.key(environmentId);
    const member = `${this.#instanceId}:${++this.#sequence}`;
    if (options.optimistic && this.#hasRoom(key, limit)) {
      const batch = this.#batch(key, limit, false);
      batch.forced.push(member);
      this.#known.get(key)!.count++;
      return Promise.resolve(this.#admitted(environmentId, key, member, batch));
    }
    return new Promise<boolean | Error>((resolve) => {
      const batch = this.#batch(key, limit, true);
      batch.members.push(member);
      batch.resolvers.push(resolve);
    }).then((outcome) => this.#admission(environmentId, key, member, outcome));
  }

  #hasRoom(key: string, limit: number): boolean {
    const known = this.#known.get(key);
    if (!known || Date.now() - known.at > this.refreshIntervalMs) return false;
    return known.count + 1 <= Math.floor(limit * this.#options.optimisticFraction);
  }

  /** The key's pending batch; `now`: flush it this turn (someone waits for its answer). */
  #batch(key: string, limit: number, now: boolean): AcquireBatch {
    let batch = this.#acquires.get(key);
    if (!batch || batch.forced.length + batch.members.length >= MAX_BATCH) {
      batch = { limit, forced: [], members: [], resolvers: [], sent: false };
      this.#acquires.set(key, batch);
      const pending = batch;
      if (now) setImmediate(() => void this.#flushAcquires(key, pending));
      else setTimeout(() => void this.#flushAcquires(key, pending), OPTIMISTIC_FLUSH_MS);
    } else if (now && batch.members.length === 0) {
      const pending = batch;
      setImmediate(() => void this.#flushAcquires(key, pending));
    }
    return batch;
  }

  async #flushAcquires(key: string, batch: AcquireBatch) {
    if (batch.sent) return;
    batch.sent = true;
    if (this.#acquires.get(key) === batch) this.#acquires.delete(key);
    if (batch.forced.length + batch.members.length === 0) return;
    let outcome: number | Error;
    try {
      const [admitted, count] = await this.#watchdog.call(
        this.#redis.realtimeLimiterAcquire(
          key,
          batch.limit,
          this.#options.entryTtlMs,
          batch.forced.length,
          ...batch.forced,
          ...batch.members,
        ),
      );
      outcome = admitted;
      // Redis's count now, plus what this instance admitted since this batch left.
      const pending = this.#acquires.get(key);
      this.#known.set(key, { count: count + (pending?.forced.length ?? 0), at: Date.now() });
    } catch (error) {
      outcome = error instanceof Error ? error : new Error(String(error));
      // No optimism without a fresh count: the next acquires wait for Redis (and its down policy).
      this.#known.delete(key);
      if (batch.forced.length > 0) {
        this.#options.metrics?.limiterRedisErrors.inc();
        this.#logRedisDown(outcome);
      }
    }
    batch.resolvers.forEach((resolve, i) => resolve(outcome instanceof Error ? outcome : i < outcome));
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
    return this.#admitted(environmentId, key, member);
  }

  /** `unsent`: the batch that will register the member (an optimistic admission). */
  #admitted(environmentId: string, key: string, member: string, unsent?: AcquireBatch): Admission {
    this.#track(key, member);
    this.#concurrent.set(environmentId, (this.#concurrent.get(environmentId) ?? 0) + 1);
    // A bound method, not a closure: the webapp's server code runs under tsx, whose keepNames gives every
    // named closure a `__name` call (defineProperty), which was the largest cost of a re-poll's admission.
    const slot: Slot = { environmentId, key, member, unsent, released: false };
    return { kind: "admitted", degraded: false, release: this.#release.bind(this, slot) };
  }

  #release(slot: Slot): Promise<void> {
    if (slot.released) return Promise.resolve();
    slot.released = true;
    const { key, member, unsent } = slot;
    this.#untrack(key, member);
    this.#concurrent.set(slot.environmentId, this.#concurrent.get(slot.environmentId)! - 1);
    const known = this.#known.get(key);
    if (known && known.count > 0) known.count--;
    // Never registered yet: drop it from its batch instead of sending a ZREM.
    if (unsent && !unsent.sent) {
      const at = unsent.forced.indexOf(member);
      if (at !== -1) unsent.forced.splice(at, 1);
      return Promise.resolve();
    }
    return this.#releases.release(key, member);
  }

  /** Live requests per environment right now, across all instances (sweeps stale entries first). */
  async usage(environmentIds: readonly string[]): Promise<Record<string, number>> {
    const counts = await limiterUsage(
      this.#redis,
      environmentIds.map((id) => this.key(id)),
      this.#options.entryTtlMs,
    );
    return Object.fromEntries(environmentIds.map((id, i) => [id, counts[i]!]));
  }

  /** Refreshes every in-flight entry of this instance now (the timer calls this every TTL/3). */
  async refresh(): Promise<void> {
    const sent = refreshEntries(this.#redis, this.#inflight, this.#options.entryTtlMs);
    if (!sent) return;
    try {
      await this.#watchdog.call(sent);
    } catch (error) {
      this.#options.metrics?.limiterRedisErrors.inc();
      this.#logRedisDown(error);
    }
  }

  /** Stops refreshing (this instance's entries then expire within the TTL). */
  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watchdog.stop();
    this.#inflight.clear();
    this.#known.clear();
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
