/**
 * Cluster-wide write-pipeline counters per class and second, kept in Redis so the dashboard panel
 * shows every instance's traffic, not one process's: items accepted, items applied, rows written
 * (applied ÷ rows = the coalescing ratio), stream entries applied (the drain rate backpressure's
 * retry-after is derived from), batches and their apply time. Buckets expire after
 * STATS_TTL_S. Prometheus carries the same per instance (metrics.server.ts).
 */
import type { ChainableCommander, Redis } from "ioredis";
import { BUFFERED_CLASSES, type BufferedClass } from "@runfeed/core";

const STATS_TTL_S = 300;
export const STAT_FIELDS = ["accepted", "applied", "rows", "entries", "batches", "applyMs", "lagMs"] as const;
export type StatField = (typeof STAT_FIELDS)[number];

const bucketKey = (keyPrefix: string, urgency: BufferedClass, second: number) =>
  `${keyPrefix}wp:stats:${urgency}:${second}`;

/** The hash of the second `now` falls in (the accept script adds to it itself). */
export const statsKey = (keyPrefix: string, urgency: BufferedClass, now: number) =>
  bucketKey(keyPrefix, urgency, Math.floor(now / 1000));

/** Adds to this second's counters inside `tx` (a MULTI or pipeline the caller sends anyway). */
export function addStats(
  tx: ChainableCommander,
  keyPrefix: string,
  urgency: BufferedClass,
  counts: Partial<Record<StatField, number>>,
  now = Date.now(),
) {
  const key = bucketKey(keyPrefix, urgency, Math.floor(now / 1000));
  for (const [field, value] of Object.entries(counts)) if (value) tx.hincrby(key, field, Math.round(value));
  tx.expire(key, STATS_TTL_S);
}

export type SecondStats = Record<StatField, number> & { second: number };

/** The last `seconds` complete seconds per class, oldest first. */
export async function readStats(
  redis: Redis,
  keyPrefix: string,
  seconds: number,
  now = Date.now(),
): Promise<Record<BufferedClass, SecondStats[]>> {
  const last = Math.floor(now / 1000) - 1;
  const wanted = BUFFERED_CLASSES.flatMap((urgency) =>
    Array.from({ length: seconds }, (_, i) => ({ urgency, second: last - seconds + 1 + i })),
  );
  const pipeline = redis.pipeline();
  for (const { urgency, second } of wanted) pipeline.hgetall(bucketKey(keyPrefix, urgency, second));
  const results = (await pipeline.exec()) ?? [];
  const out = { high: [], low: [] } as Record<BufferedClass, SecondStats[]>;
  wanted.forEach(({ urgency, second }, i) => {
    const hash = (results[i]?.[1] ?? {}) as Record<string, string>;
    const row = { second } as SecondStats;
    for (const field of STAT_FIELDS) row[field] = Number(hash[field] ?? 0);
    out[urgency].push(row);
  });
  return out;
}
