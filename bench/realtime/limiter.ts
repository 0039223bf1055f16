/**
 * Limiter admissions/s beside raw EVAL of a trivial script, same Redis, same client, same
 * concurrency (commands issued together are written as one pipeline by ioredis).
 */
import { Redis, type Redis as RedisType } from "ioredis";
import { ConcurrencyLimiter } from "../../apps/webapp/app/services/realtime/concurrencyLimiter.server.js";
import { createMetrics } from "../../apps/webapp/app/services/metrics.server.js";

const TRIVIAL = "return 1";

async function rate(total: number, inflight: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < total) await op(next++);
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

export async function benchLimiter(
  redisUrl: string,
  options: { total?: number; inflight?: number; rounds?: number } = {},
) {
  // Many short interleaved rounds and medians: the machine is shared, so long phases would compare
  // different background loads.
  const total = options.total ?? 10_000;
  const inflight = options.inflight ?? 256;
  const rounds = options.rounds ?? 9;
  // As in production (createRealtimeServices): a dedicated, auto-pipelined connection. The raw
  // baseline runs on the same connection, so both are pipelined the same way.
  const redis: RedisType = new Redis(redisUrl, { enableAutoPipelining: true });
  const prefix = `bench:${process.pid}:`;
  const limiter = new ConcurrencyLimiter({
    redis,
    keyPrefix: prefix,
    entryTtlMs: 30_000,
    redisDownPolicy: "open",
    metrics: createMetrics(),
  });
  redis.defineCommand("benchTrivial", { numberOfKeys: 0, lua: TRIVIAL });
  const trivial = () => (redis as unknown as { benchTrivial(): Promise<number> }).benchTrivial();
  // Warm up both scripts (EVALSHA cache, JIT).
  await rate(2000, inflight, () => trivial());
  await rate(2000, inflight, async (i) => {
    const a = await limiter.acquire(`warm${i % 8}`, 1e9);
    if (a.kind === "admitted") await a.release();
  });

  const results: Array<{ raw: number; admissions: number; cycles: number }> = [];
  for (let round = 0; round < rounds; round++) {
    const raw = await rate(total, inflight, () => trivial());
    // Admissions only (acquire; slots released afterwards in bulk, outside the timing).
    const leases: Array<() => Promise<void>> = [];
    const admissions = await rate(total, inflight, async (i) => {
      const a = await limiter.acquire(`env${i % 16}`, 1e9);
      if (a.kind !== "admitted") throw new Error(`not admitted: ${a.kind}`);
      leases.push(a.release);
    });
    for (const release of leases) await release();
    // Full cycle: acquire + release (two round trips).
    const cycles = await rate(total, inflight, async (i) => {
      const a = await limiter.acquire(`env${i % 16}`, 1e9);
      if (a.kind === "admitted") await a.release();
    });
    results.push({ raw, admissions, cycles });
  }
  limiter.stop();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const raw = median(results.map((r) => r.raw));
  const admissions = median(results.map((r) => r.admissions));
  const cycles = median(results.map((r) => r.cycles));
  return { total, inflight, rounds, raw, admissions, cycles, ratio: admissions / raw };
}
