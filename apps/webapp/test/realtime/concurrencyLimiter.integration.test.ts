import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { testRedisPrefix, testServices } from "@runfeed/devstack/test-context";
import { ConcurrencyLimiter, type Admission } from "../../app/services/realtime/concurrencyLimiter.server.js";
import { CreatedAtCache } from "../../app/services/realtime/createdAtCache.server.js";
import { createMetrics } from "../../app/services/metrics.server.js";

let redis: Redis;
const prefix = testRedisPrefix();
const admitted = (a: Admission): a is Extract<Admission, { kind: "admitted" }> => a.kind === "admitted";

beforeAll(() => {
  redis = new Redis(testServices().redisUrl);
});
afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const limiterFor = (ttl = 30_000, extra: Partial<ConstructorParameters<typeof ConcurrencyLimiter>[0]> = {}) =>
  new ConcurrencyLimiter({ redis, keyPrefix: prefix, entryTtlMs: ttl, redisDownPolicy: "open", ...extra });

describe("ConcurrencyLimiter against real Redis", () => {
  it("admits exactly N of N+k concurrent requests and frees slots on release", async () => {
    const limiter = limiterFor();
    const env = "env_exact";
    const results = await Promise.all(Array.from({ length: 25 }, () => limiter.acquire(env, 10)));
    expect(results.filter(admitted)).toHaveLength(10);
    expect(results.filter((r) => r.kind === "rejected")).toHaveLength(15);
    expect(await limiter.usage([env, "env_none"])).toEqual({ [env]: 10, env_none: 0 });

    const [first] = results.filter(admitted);
    await first!.release();
    await first!.release(); // idempotent
    expect((await limiter.acquire(env, 10)).kind).toBe("admitted");
    expect((await limiter.acquire(env, 10)).kind).toBe("rejected");
    for (const r of results.filter(admitted)) await r.release();
    expect((await limiter.usage([env]))[env]).toBe(1);
    limiter.stop();
  });

  it("uses Redis TIME scores and keys per environment", async () => {
    const limiter = limiterFor();
    const lease = await limiter.acquire("env_time", 5);
    const [, score] = await redis.zrange(limiter.key("env_time"), 0, -1, "WITHSCORES");
    const [seconds, micros] = await redis.time();
    const redisNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    expect(Math.abs(redisNow - Number(score))).toBeLessThan(2000);
    expect(limiter.key("env_time")).toBe(`${prefix}realtime:concurrency:env_time`);
    if (admitted(lease)) await lease.release();
    limiter.stop();
  });

  it("frees a crashed instance's slots within the TTL while a live instance keeps its own", async () => {
    const ttl = 1000;
    const crashed = limiterFor(ttl);
    const alive = limiterFor(ttl);
    const env = "env_crash";
    for (let i = 0; i < 2; i++) expect((await crashed.acquire(env, 4)).kind).toBe("admitted");
    const kept = await Promise.all([alive.acquire(env, 4), alive.acquire(env, 4)]);
    expect(kept.every(admitted)).toBe(true);
    expect((await alive.acquire(env, 4)).kind).toBe("rejected");
    crashed.stop(); // the process "dies": no refresh, no release
    const started = Date.now();
    await vi.waitFor(async () => expect((await alive.usage([env]))[env]).toBe(2), { timeout: 5000, interval: 50 });
    expect(Date.now() - started).toBeLessThan(ttl * 3);
    // Long after the TTL, the refreshing instance's entries are still there.
    await new Promise((resolve) => setTimeout(resolve, ttl * 2));
    expect((await alive.usage([env]))[env]).toBe(2);
    for (const lease of kept) if (admitted(lease)) await lease.release();
    expect((await alive.usage([env]))[env]).toBe(0);
    alive.stop();
  });

  it("admits long-polls optimistically below its share of the limit, registers them in Redis, and waits above it", async () => {
    const limiter = limiterFor(30_000, { optimisticFraction: 0.5 });
    const env = "env_optimistic";
    const key = limiter.key(env);
    // No count known yet: the first acquire waits for Redis (and learns the count).
    const first = await limiter.acquire(env, 10, { optimistic: true });
    expect(first.kind).toBe("admitted");
    // Below 5 (half of 10): admitted before Redis has its entry; the entry follows in the next batch.
    const optimistic = await limiter.acquire(env, 10, { optimistic: true });
    expect(optimistic.kind).toBe("admitted");
    expect(await redis.zcard(key)).toBe(1);
    await vi.waitFor(async () => expect(await redis.zcard(key)).toBe(2), { timeout: 2000, interval: 5 });
    // Up to the share, then exact admissions, and never past the limit on one instance.
    const rest = await Promise.all(Array.from({ length: 12 }, () => limiter.acquire(env, 10, { optimistic: true })));
    expect(rest.filter(admitted)).toHaveLength(8);
    expect(rest.filter((r) => r.kind === "rejected")).toHaveLength(4);
    await vi.waitFor(async () => expect((await limiter.usage([env]))[env]).toBe(10), { timeout: 2000, interval: 5 });
    // A release of an entry not yet registered never reaches Redis; a registered one is removed.
    for (const lease of [first, optimistic, ...rest]) if (admitted(lease)) await lease.release();
    expect((await limiter.usage([env]))[env]).toBe(0);
    const quick = await limiter.acquire(env, 10, { optimistic: true });
    if (admitted(quick)) await quick.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect((await limiter.usage([env]))[env]).toBe(0);
    limiter.stop();
  });

  it("stops admitting optimistically once Redis fails, so the closed policy applies", async () => {
    const flaky = new Redis(testServices().redisUrl);
    const limiter = new ConcurrencyLimiter({
      redis: flaky,
      keyPrefix: prefix,
      entryTtlMs: 30_000,
      redisDownPolicy: "closed",
      optimisticFraction: 0.5,
      redisTimeoutMs: 300,
    });
    const env = "env_optimistic_down";
    const first = await limiter.acquire(env, 10, { optimistic: true });
    expect(first.kind).toBe("admitted");
    flaky.disconnect(); // Redis gone: the optimistic admission's registration fails
    expect((await limiter.acquire(env, 10, { optimistic: true })).kind).toBe("admitted");
    await vi.waitFor(
      async () => expect((await limiter.acquire(env, 10, { optimistic: true })).kind).toBe("unavailable"),
      {
        timeout: 2000,
        interval: 10,
      },
    );
    limiter.stop();
    await redis.del(limiter.key(env));
  });

  it("applies the Redis-down policy: open admits and counts, closed refuses", async () => {
    const dead = new Redis("redis://127.0.0.1:1", {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    dead.on("error", () => {});
    const metrics = createMetrics();
    const logged: unknown[] = [];
    const logger = { warn: (...args: unknown[]) => void logged.push(args) };
    const open = new ConcurrencyLimiter({
      redis: dead,
      keyPrefix: prefix,
      entryTtlMs: 1000,
      redisDownPolicy: "open",
      metrics,
      logger,
      redisTimeoutMs: 300,
    });
    const a = await open.acquire("env_down", 1);
    const b = await open.acquire("env_down", 1);
    expect([a.kind, b.kind]).toEqual(["admitted", "admitted"]);
    expect(admitted(a) && a.degraded).toBe(true);
    expect((await metrics.limiterRedisErrors.get()).values[0]?.value).toBe(2);
    expect(logged).toHaveLength(1); // once per interval
    const closed = new ConcurrencyLimiter({
      redis: dead,
      keyPrefix: prefix,
      entryTtlMs: 1000,
      redisDownPolicy: "closed",
      redisTimeoutMs: 300,
    });
    expect((await closed.acquire("env_down", 1)).kind).toBe("unavailable");
    dead.disconnect();
  });
});

describe("CreatedAtCache", () => {
  it("reads a floor back on another instance through Redis, and misses unknown handles", async () => {
    const options = { redis, keyPrefix: prefix, freshMs: 60_000, staleMs: 120_000 };
    const writer = new CreatedAtCache(options);
    const reader = new CreatedAtCache(options);
    const floor = new Date("2026-06-06T10:00:00.123Z");
    expect(await writer.set("handle-1", floor)).toBeUndefined();
    expect((await reader.get("handle-1"))?.toISOString()).toBe(floor.toISOString());
    expect(await reader.get("handle-unknown")).toBeUndefined();
    const ttl = await redis.pttl(`${prefix}cache:realtime:createdAtFilter:handle-1`);
    expect(ttl).toBeGreaterThan(100_000);
    expect(ttl).toBeLessThanOrEqual(120_000);
  });
});
