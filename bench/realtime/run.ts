/**
 * The realtime path: the Redis limiter against raw EVAL, and the proxy's added latency and CPU at 1,000 live requests.
 * Loopback only, bounded in time:
 *   pnpm bench realtime [--only limiter|proxy]   (proxy options: BENCH_* variables, see proxy.ts)
 * Uses REDIS_URL / DATABASE_URL when set, else starts redis-server and embedded Postgres itself.
 */
import { benchLimiter } from "./limiter.js";
import { startRedisServer } from "../../packages/devstack/src/redis.js";
import { BenchReport, round } from "../report.js";
import { type Stop, runBench } from "../support.js";

const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const stops: Stop[] = [];
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

await runBench(async () => {
  const report = new BenchReport("realtime");
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis = await startRedisServer();
    stops.push(redis.stop);
    redisUrl = redis.url;
  }
  if (!only || only === "limiter") {
    const r = await benchLimiter(redisUrl);
    console.log(
      `\n== limiter (${fmt(r.total)} ops × ${r.rounds} rounds, ${r.inflight} in flight, one ioredis client, median)`,
    );
    console.log(`raw EVALSHA "return 1":        ${fmt(r.raw)} ops/s`);
    console.log(`limiter admissions (acquire):  ${fmt(r.admissions)} ops/s`);
    console.log(`limiter acquire+release:       ${fmt(r.cycles)} cycles/s`);
    console.log(
      `ratio admissions/raw:          ${r.ratio.toFixed(2)} (goal ≥ 0.70) ${r.ratio >= 0.7 ? "PASS" : "FAIL"}`,
    );
    report.add("limiter", {
      operations: r.total,
      rounds: r.rounds,
      inflight: r.inflight,
      rawEvalPerSecond: round(r.raw),
      admissionsPerSecond: round(r.admissions),
      acquireReleaseCyclesPerSecond: round(r.cycles),
      ratio: round(r.ratio, 2),
    });
    report.figures.limiterRatio = round(r.ratio, 2);
  }
  if (!only || only === "proxy") {
    const { benchProxy } = await import("./proxy.js");
    await benchProxy({ redisUrl, stops, report });
  }
  return report;
}, stops);
