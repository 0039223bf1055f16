/**
 * Everything a request handler needs, built once per app instance from the parsed env and handed to
 * Remix loaders/actions as `context.services` (server/app.ts). No module-level singletons, so tests
 * can run several instances side by side.
 */
import { Redis } from "ioredis";
import { createPrismaClient, type PrismaClient } from "@runfeed/database";
import type { WebappEnv } from "../env.server";
import { createLogger, type Logger } from "./logger.server";
import { createMetrics, type Metrics } from "./metrics.server";
import { createRealtimeServices, type RealtimeServices } from "./realtime/realtimeServices.server";
import { createRealtimeStreams, type RealtimeStreams } from "./realtime/streams/streamServices.server";
import type { RequestClient } from "./requestClient.server";
import { createSignInThrottle, type SignInThrottle } from "./signInThrottle.server";
import { createWorker } from "./worker.server";
import type { RunWorker } from "../worker/runWorker.server";
import { createWritePipeline, type WritePipeline } from "./writePipeline/writePipelineServices.server";

export interface Services {
  env: WebappEnv;
  prisma: PrismaClient;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  /** Realtime feed: concurrency limiter and createdAt cache (services/realtime). */
  realtime: RealtimeServices;
  /** Realtime streams: Redis store, live hub, Postgres archive, sweeper (services/realtime/streams). */
  streams: RealtimeStreams;
  /** Buffered writes: accept path, queue depths and (when hosted here) the drain (services/writePipeline). */
  writePipeline: WritePipeline;
  /** Failed sign-ins per account and client address (signInThrottle.server.ts). */
  signInThrottle: SignInThrottle;
  /** The example worker (app/worker), when WORKER_ENABLED; `wake()` it after triggering in-process. */
  worker: RunWorker | undefined;
  /** Hooks run by close(), in reverse order of registration (workers, timers, connections). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

export function createServices(env: WebappEnv): Services {
  const logger = createLogger(env.LOG_LEVEL);
  const prisma = createPrismaClient(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE });
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
  redis.on("error", (error) => logger.debug({ err: error.message }, "redis connection error"));
  const closers: Array<() => Promise<void> | void> = [];
  const metrics = createMetrics();
  const realtime = createRealtimeServices({ env, redis, logger, metrics });
  closers.push(() => realtime.close());
  const streams = createRealtimeStreams({ env, redis, prisma, logger, metrics });
  closers.push(() => streams.close());
  const writePipeline = createWritePipeline({ env, redis, logger, metrics });
  closers.push(() => writePipeline.close());
  const worker = env.WORKER_ENABLED ? createWorker({ env, prisma, logger }) : undefined;
  if (worker) {
    worker.start();
    closers.push(() => worker.stop());
  }
  return {
    env,
    prisma,
    redis,
    logger,
    metrics,
    realtime,
    streams,
    writePipeline,
    signInThrottle: createSignInThrottle(redis, env),
    worker,
    onClose: (fn) => closers.push(fn),
    async close() {
      for (const fn of closers.reverse()) await fn();
      redis.disconnect();
      await prisma.$disconnect();
    },
  };
}

declare module "@remix-run/node" {
  interface AppLoadContext {
    services: Services;
    /** This request's client address, origin and scheme (requestClient.server.ts). */
    client: RequestClient;
    /** This document's CSP nonce, for Remix's inline scripts (securityHeaders.server.ts, entry.server.tsx). */
    cspNonce: string;
  }
}
