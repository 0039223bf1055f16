/**
 * Realtime benchmarks (issue 5), loopback only, bounded in time:
 *   pnpm exec tsx bench/realtime/run.ts [--only limiter|proxy]
 * Uses REDIS_URL / DATABASE_URL when set, else starts redis-server and embedded Postgres itself.
 */
import { benchLimiter } from "./limiter.js";
import { startRedisServer } from "../../packages/devstack/src/redis.js";

const only = process.argv.includes("--only") ? process.argv[process.argv.indexOf("--only") + 1] : undefined;
const stops: Array<() => Promise<void>> = [];
// Child processes (shape-sync, webapp, redis-server, Postgres) must not outlive a crashed run.
let cleaning = false;
async function cleanUp() {
  if (cleaning) return;
  cleaning = true;
  for (const stop of stops.reverse()) await stop().catch(() => {});
}
for (const event of ["unhandledRejection", "uncaughtException"] as const) {
  process.on(event, (error) => {
    console.error(error);
    void cleanUp().finally(() => process.exit(1));
  });
}
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => void cleanUp().finally(() => process.exit(130)));
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

try {
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
  }
  if (!only || only === "proxy") {
    const { benchProxy } = await import("./proxy.js");
    await benchProxy({ redisUrl, stops });
  }
} finally {
  await cleanUp();
}
