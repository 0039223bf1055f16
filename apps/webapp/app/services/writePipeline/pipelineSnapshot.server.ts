/**
 * What the dashboard's write-pipeline panel shows (docs/decisions/092-write-pipeline.md, "Visibility"):
 * per stream its depth and oldest-entry age (read now), and per class the cluster-wide rates over the
 * last few complete seconds from the Redis counters (pipelineStats.server.ts).
 */
import { BUFFERED_CLASSES, type BufferedClass } from "@runfeed/core";
import type { Services } from "../services.server";
import { readStats } from "./pipelineStats.server";

const WINDOW_S = 5;

export interface ClassRates {
  acceptedPerSecond: number;
  appliedPerSecond: number;
  rowsPerSecond: number;
  /** Operations (or lines) per row written; null when nothing was written. */
  coalescing: number | null;
  applyMsPerBatch: number | null;
  lagMsPerBatch: number | null;
}

export interface PipelineSnapshot {
  streams: Array<{ name: string; urgency: BufferedClass; partition: number; depth: number; oldestAgeMs: number }>;
  classes: Record<BufferedClass, ClassRates & { depth: number }>;
  /** Streams this process's drain owns, when it hosts one. */
  ownedHere: number | null;
  at: number;
}

export async function pipelineSnapshot(services: Services): Promise<PipelineSnapshot> {
  const { writePipeline, redis, env } = services;
  const [depths, stats] = await Promise.all([
    writePipeline.depths.read(),
    readStats(redis, env.REDIS_KEY_PREFIX, WINDOW_S),
  ]);
  const classes = {} as PipelineSnapshot["classes"];
  for (const urgency of BUFFERED_CLASSES) {
    const sum = (field: "accepted" | "applied" | "rows" | "batches" | "applyMs" | "lagMs") =>
      stats[urgency].reduce((total, second) => total + second[field], 0);
    const batches = sum("batches");
    classes[urgency] = {
      depth: depths.filter((d) => d.stream.urgency === urgency).reduce((total, d) => total + d.depth, 0),
      acceptedPerSecond: sum("accepted") / WINDOW_S,
      appliedPerSecond: sum("applied") / WINDOW_S,
      rowsPerSecond: sum("rows") / WINDOW_S,
      coalescing: sum("rows") > 0 ? sum("applied") / sum("rows") : null,
      applyMsPerBatch: batches > 0 ? sum("applyMs") / batches : null,
      lagMsPerBatch: batches > 0 ? sum("lagMs") / batches : null,
    };
  }
  return {
    streams: depths.map((d) => ({
      name: d.stream.key,
      urgency: d.stream.urgency,
      partition: d.stream.partition,
      depth: d.depth,
      oldestAgeMs: d.oldestAgeMs,
    })),
    classes,
    ownedHere: writePipeline.drain ? writePipeline.drain.owned.size : null,
    at: Date.now(),
  };
}
