/**
 * Wiring of the write pipeline (style rule 8: the classes take plain options; this module takes the
 * env): its Postgres pool, queue depths, backpressure, the accept path and — when this process hosts
 * it — the drain. Built once per process by createServices (the webapp) or server/drain.ts (a drain
 * alone); a field of Services, never a module-level singleton.
 */
import { type RunChangePublisher, runChangedOf } from "../realtime/native/runSignals.server";
import type { Redis } from "ioredis";
import pg from "pg";
import type { BufferedClass } from "@runfeed/core";
import type { WebappEnv } from "../../env.server";
import type { Logger } from "../logger.server";
import type { Metrics } from "../metrics.server";
import { WriteAcceptor } from "./acceptor.server";
import { Backpressure } from "./backpressure.server";
import { CriticalFirst } from "./criticalFirst.server";
import { logApplier } from "./applyLogs.server";
import { metadataApplier } from "./applyMetadata.server";
import { WritePipelineDrain, type DrainBatch } from "./drain.server";
import { addStats } from "./pipelineStats.server";
import { QueueDepths } from "./queueDepths.server";
import { checkRedisDurability } from "./redisDurability.server";
import { allStreams, type StreamName } from "./streamNames.server";

export interface WritePipeline {
  acceptor: WriteAcceptor;
  /** Critical writes first: admission of buffered requests in this process (criticalFirst.server.ts). */
  criticalFirst: CriticalFirst;
  depths: QueueDepths;
  streams: StreamName[];
  /** Present when this process drains (WRITE_PIPELINE_DRAIN_ENABLED, or server/drain.ts). */
  drain: WritePipelineDrain | undefined;
  close(): Promise<void>;
}

export function createWritePipeline(deps: {
  env: WebappEnv;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  /** Host the drain here (default: WRITE_PIPELINE_DRAIN_ENABLED). */
  drain?: boolean;
  /** Once per applied batch, one "run changed" signal per run it wrote (log lines: one per run's log feed). */
  signals?: RunChangePublisher;
}): WritePipeline {
  const { env, redis, logger, metrics } = deps;
  const prefix = env.REDIS_KEY_PREFIX;
  const streams = allStreams(prefix, env.WRITE_PIPELINE_PARTITIONS);
  void checkRedisDurability(redis, logger);
  let lastDepthError = 0;
  const criticalFirst = new CriticalFirst({
    concurrency: env.WRITE_PIPELINE_ACCEPT_CONCURRENCY,
    share: env.WRITE_PIPELINE_BUFFERED_SHARE,
    quietMs: env.WRITE_PIPELINE_CRITICAL_QUIET_MS,
    maxWaitMs: env.WRITE_PIPELINE_ADMISSION_MAX_WAIT_MS,
  });
  const depths = new QueueDepths({
    redis,
    streams,
    keyPrefix: prefix,
    intervalMs: env.WRITE_PIPELINE_DEPTH_INTERVAL_MS,
    criticalActive: () => criticalFirst.criticalActive,
    onRead: (read) => {
      for (const d of read) {
        metrics.pipelineDepth.set({ stream: d.stream.cursor }, d.depth);
        metrics.pipelineOldestAge.set({ stream: d.stream.cursor }, d.oldestAgeMs / 1000);
      }
    },
    onError: (error) => {
      if (Date.now() - lastDepthError < 10_000) return;
      lastDepthError = Date.now();
      logger.warn({ err: (error as Error).message }, "write pipeline: could not read queue depths");
    },
  });
  depths.start();
  const backpressure = new Backpressure({
    depths,
    lowHighWater: env.WRITE_PIPELINE_LOW_HIGH_WATER,
    highSlowWater: env.WRITE_PIPELINE_HIGH_SLOW_WATER,
    highHighWater: env.WRITE_PIPELINE_HIGH_HIGH_WATER,
    highMaxWaitMs: env.WRITE_PIPELINE_HIGH_MAX_WAIT_MS,
  });
  const acceptor = new WriteAcceptor({
    redis,
    keyPrefix: prefix,
    partitions: env.WRITE_PIPELINE_PARTITIONS,
    backpressure,
    onAccepted: (urgency, items) => metrics.pipelineAccepted.inc({ class: urgency }, items),
  });

  let drain: WritePipelineDrain | undefined;
  let pools: Record<BufferedClass, pg.Pool> | undefined;
  if (deps.drain ?? env.WRITE_PIPELINE_DRAIN_ENABLED) {
    const pool = () => {
      const p = new pg.Pool({ connectionString: env.DATABASE_URL, max: env.WRITE_PIPELINE_APPLY_POOL_SIZE });
      p.on("error", (error) => logger.warn({ err: error.message }, "write pipeline pool connection error"));
      return p;
    };
    pools = { high: pool(), low: pool() };
    drain = new WritePipelineDrain({
      redis,
      pools,
      streams,
      appliers: {
        high: metadataApplier({ maximumSize: env.TASK_RUN_METADATA_MAXIMUM_SIZE }),
        low: logApplier(),
      },
      intervalMs: { high: env.WRITE_PIPELINE_HIGH_INTERVAL_MS, low: env.WRITE_PIPELINE_LOW_INTERVAL_MS },
      batchSize: { high: env.WRITE_PIPELINE_BATCH_SIZE, low: env.WRITE_PIPELINE_LOW_BATCH_SIZE },
      eagerBacklog: env.WRITE_PIPELINE_EAGER_BACKLOG,
      leaseMs: env.WRITE_PIPELINE_LEASE_MS,
      depthOf: (stream) => depths.latest.find((d) => d.stream.key === stream.key)?.depth ?? 0,
      yieldToCritical: () => depths.criticalAnywhere,
      criticalShare: env.WRITE_PIPELINE_BUFFERED_SHARE,
      logger,
      onBatch: (batch) => recordBatch(batch),
    });
    drain.start();
  }

  function recordBatch(batch: DrainBatch) {
    const urgency: BufferedClass = batch.stream.urgency;
    const { applied, rows, dropped, changedRuns, loggedRuns } = batch.result;
    if (changedRuns?.length) deps.signals?.publishRunsChanged(changedRuns.map(runChangedOf));
    if (loggedRuns?.length) deps.signals?.publishRunLogsAppended(loggedRuns);
    metrics.pipelineApplied.inc({ class: urgency }, applied);
    metrics.pipelineRows.inc({ class: urgency }, rows);
    metrics.pipelineApplySeconds.observe({ class: urgency }, batch.applyMs / 1000);
    metrics.pipelineLagSeconds.observe({ class: urgency }, batch.lagMs / 1000);
    for (const [reason, count] of Object.entries(dropped)) {
      metrics.pipelineDropped.inc({ class: urgency, reason }, count);
      logger.warn({ stream: batch.stream.cursor, reason, count }, "write pipeline: buffered items dropped");
    }
    const tx = redis.pipeline();
    addStats(tx, prefix, urgency, {
      applied,
      rows,
      entries: batch.entries,
      batches: 1,
      applyMs: batch.applyMs,
      lagMs: batch.lagMs,
    });
    void tx.exec().catch(() => {});
  }

  return {
    acceptor,
    criticalFirst,
    depths,
    streams,
    drain,
    async close() {
      await drain?.stop();
      depths.stop();
      await Promise.all(Object.values(pools ?? {}).map((p) => p.end()));
    },
  };
}
