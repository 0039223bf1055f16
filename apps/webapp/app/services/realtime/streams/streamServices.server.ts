/**
 * Wiring of realtime streams (style rule 8: classes take plain options, this module takes the env):
 * the Redis store, the live hub, the Postgres archive and the sweeper, built once per webapp instance.
 */
import type { Redis } from "ioredis";
import type { PrismaClient } from "@runfeed/database";
import type { WebappEnv } from "../../../env.server";
import type { Logger } from "../../logger.server";
import type { Metrics } from "../../metrics.server";
import { TtlCache } from "../../ttlCache.server";
import { type RunChangePublisher, runChangedOf } from "../native/runSignals.server";
import { listStream, PostgresArchiveSink, type StreamArchiveSink } from "./streamArchive.server";
import { StreamHub } from "./streamHub.server";
import { RunFinishWatcher } from "./runFinishWatcher.server";
import { type StreamLimits, type StreamRef, StreamStore } from "./streamStore.server";
import { StreamSweeper } from "./streamSweeper.server";

export interface RealtimeStreams {
  store: StreamStore;
  hub: StreamHub;
  /** Readers waiting for a stream not created yet learn here that its run finished. */
  runs: RunFinishWatcher;
  sink: StreamArchiveSink;
  sweeper: StreamSweeper;
  limits: StreamLimits & { maxChunkBytes: number };
  /** An open writer body refreshes the stream's sign of life this often (a third of the idle timeout). */
  leaseIntervalMs: number;
  /** Lists the stream on its run (RealtimeStream row, TaskRun.realtimeStreams) once per instance. */
  ensureListed(ref: StreamRef, options?: { onRun: boolean }): Promise<void>;
  close(): Promise<void>;
}

export function createRealtimeStreams(deps: {
  env: WebappEnv;
  redis: Redis;
  prisma: PrismaClient;
  logger: Logger;
  metrics: Metrics;
  /** Listing a stream on its run changes the run row: its feeds are signalled. */
  signals?: RunChangePublisher;
}): RealtimeStreams {
  const { env, redis, prisma, logger, metrics, signals } = deps;
  // Writers' appends issued in the same tick go out in one socket write.
  const storeRedis = redis.duplicate({ enableAutoPipelining: true });
  storeRedis.on("error", (error) => logger.debug({ err: error.message }, "stream store redis connection error"));
  const hub = new StreamHub({ redis: storeRedis, logger, localAppendsSettled: () => store.appendsSettled() });
  // This instance's appends reach its own readers at once, not a Redis round trip later.
  const store = new StreamStore({
    redis: storeRedis,
    keyPrefix: env.REDIS_KEY_PREFIX,
    onAppended: (streamKey, prevId, entries) => hub.publish(streamKey, prevId, entries),
  });
  const sink = new PostgresArchiveSink(prisma);
  const runs = new RunFinishWatcher({ prisma, logger, intervalMs: 2_000 });
  const sweeper = new StreamSweeper({
    store,
    sink,
    prisma,
    logger,
    idleTimeoutMs: env.REALTIME_STREAM_IDLE_TIMEOUT_MS,
    retentionMs: env.REALTIME_STREAM_RETENTION_MS,
    intervalMs: env.REALTIME_STREAM_SWEEP_INTERVAL_MS,
    onArchived: (chunks) => metrics.streamChunksArchived.inc(chunks),
  });
  sweeper.start();
  const listed = new TtlCache<Promise<void>>({ ttlMs: 10 * 60_000, maxEntries: 10_000 });
  return {
    store,
    hub,
    runs,
    sink,
    sweeper,
    limits: {
      maxBytes: env.REALTIME_STREAM_MAX_BYTES,
      maxChunks: env.REALTIME_STREAM_MAX_CHUNKS,
      maxChunkBytes: env.REALTIME_STREAM_MAX_CHUNK_BYTES,
      ttlMs: env.REALTIME_STREAM_RETENTION_MS,
    },
    leaseIntervalMs: Math.max(100, Math.floor(env.REALTIME_STREAM_IDLE_TIMEOUT_MS / 3)),
    ensureListed(ref, options = { onRun: true }) {
      const key = `${ref.runId}\0${ref.key}`;
      const known = listed.peek(key);
      if (known) return known;
      const listing = listStream(prisma, ref, options).then((run) => {
        if (run) signals?.publishRunChanged(runChangedOf(run));
      });
      listed.set(key, listing);
      listing.catch(() => listed.delete(key, listing));
      return listing;
    },
    async close() {
      await sweeper.stop();
      runs.stop();
      await hub.stop();
      storeRedis.disconnect();
    },
  };
}
