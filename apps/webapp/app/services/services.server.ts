/**
 * Everything a request handler needs, built once per app instance from the parsed env and handed to
 * Remix loaders/actions as `context.services` (server/app.ts). No module-level singletons, so tests
 * can run several instances side by side.
 */
import type { Cookie } from "@remix-run/node";
import { Redis } from "ioredis";
import pg from "pg";
import { createPrismaClient, type PrismaClient } from "@runfeed/database";
import type { WebappEnv } from "../env.server";
import { Authenticator } from "./auth.server";
import { createLogger, type Logger } from "./logger.server";
import { RunMetadataWriter } from "./metadataWriter.server";
import { createMetrics, type Metrics } from "./metrics.server";
import { createRealtimeServices, type RealtimeServices } from "./realtime/realtimeServices.server";
import { createRealtimeStreams, type RealtimeStreams } from "./realtime/streams/streamServices.server";
import { FeedLookups } from "./realtime/feedLookups.server";
import { BackendSelection } from "./realtime/backendSelection.server";
import { type ChangedRunRow, RunSignals } from "./realtime/native/runSignals.server";
import type { RequestClient } from "./requestClient.server";
import { createSessionCookie } from "./session.server";
import { createSignInThrottle, type SignInThrottle } from "./signInThrottle.server";
import { createRunEngine, createWorker } from "../worker/createWorker.server";
import { pgFlush } from "./writeBuffer.server";
import type { RunWorker } from "../worker/runWorker.server";
import { TaskRegistry, type AnyTask } from "../worker/taskRegistry.server";
import { createWritePipeline, type WritePipeline } from "./writePipeline/writePipelineServices.server";

export interface Services {
  env: WebappEnv;
  prisma: PrismaClient;
  /**
   * A small `pg` pool for the critical path's prepared statements (the trigger INSERT,
   * runInsert.server.ts): Prisma's create costs several times the CPU of a prepared statement.
   */
  sqlPool: pg.Pool;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  /** Bearer authentication with this instance's key, token and environment caches (auth.server.ts). */
  auth: Authenticator;
  /** The dashboard's session cookie, signed with SESSION_SECRET (session.server.ts). */
  sessionCookie: Cookie;
  /** The metadata writes' own small `pg` pool, for their prepared statements (writeBuffer.server.ts). */
  writePool: pg.Pool;
  /** Queues and groups metadata writes per run, with this instance's run caches (metadata.server.ts). */
  metadataWriter: RunMetadataWriter;
  /** The realtime routes' run and batch lookups, with their fixed fields remembered (feedLookups.server.ts). */
  feedLookups: FeedLookups;
  /** Realtime feed: concurrency limiter and createdAt cache (services/realtime). */
  realtime: RealtimeServices;
  /** "Run changed" signals: every write path publishes after its commit (docs/decisions/073-realtime-notifier-backend.md). */
  runSignals: RunSignals;
  /** Realtime streams: Redis store, live hub, Postgres archive, sweeper (services/realtime/streams). */
  streams: RealtimeStreams;
  /** Buffered writes: accept path, queue depths and (when hosted here) the drain (services/writePipeline). */
  writePipeline: WritePipeline;
  /** Failed sign-ins per account and client address (signInThrottle.server.ts). */
  signInThrottle: SignInThrottle;
  /** The task functions this process runs (handed in by the process that starts the webapp). */
  tasks: TaskRegistry;
  /** The example worker (app/worker), when WORKER_ENABLED; `wake()` it after triggering in-process. */
  worker: RunWorker | undefined;
  /** Hooks run by close(), in reverse order of registration (workers, timers, connections). */
  onClose(fn: () => Promise<void> | void): void;
  close(): Promise<void>;
}

/** Connections of `sqlPool`: enough concurrent commits for group commit to help, few enough for 2 cores. */
const SQL_POOL_SIZE = 4;

export interface ServicesOptions {
  /** The task functions the worker runs (server/index.ts hands in the example tasks); none by default. */
  tasks?: ReadonlyArray<AnyTask>;
  /** The worker has this process to itself (server/worker.ts): tasks may end it. */
  ownWorkerProcess?: boolean;
}

export function createServices(env: WebappEnv, options: ServicesOptions = {}): Services {
  const logger = createLogger(env.LOG_LEVEL);
  const prisma = createPrismaClient(env.DATABASE_URL, { max: env.DATABASE_POOL_SIZE });
  const sqlPool = new pg.Pool({ connectionString: env.DATABASE_URL, max: SQL_POOL_SIZE });
  sqlPool.on("error", (error) => logger.warn({ err: error.message }, "sql pool connection error"));
  const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: true, lazyConnect: false });
  redis.on("error", (error) => logger.debug({ err: error.message }, "redis connection error"));
  const closers: Array<() => Promise<void> | void> = [];
  const metrics = createMetrics();
  // At most one statement in flight (the write buffer's), so two connections are enough.
  const writePool = new pg.Pool({ connectionString: env.DATABASE_URL, max: 2 });
  writePool.on("error", (error) => logger.warn({ err: error.message }, "write pool connection error"));
  closers.push(() => writePool.end());
  const backends = new BackendSelection({ prisma, defaultBackend: env.REALTIME_BACKEND });
  closers.push(() => backends.close());
  const runSignals = new RunSignals({
    redisUrl: env.REALTIME_RUNS_PUBSUB_REDIS_URL ?? env.REDIS_URL,
    keyPrefix: env.REDIS_KEY_PREFIX,
    logger,
    needed: () => backends.signalsNeeded(),
    lookup: async (ids) =>
      (
        await sqlPool.query<ChangedRunRow>(
          `SELECT "id", "runtimeEnvironmentId", "runTags", "batchId" FROM "TaskRun" WHERE "id" = ANY($1::text[])`,
          [ids],
        )
      ).rows,
  });
  closers.push(() => runSignals.close());
  const metadataWriter = new RunMetadataWriter({
    prisma,
    maximumSize: env.TASK_RUN_METADATA_MAXIMUM_SIZE,
    flush: pgFlush(writePool),
    signals: runSignals,
  });
  const realtime = createRealtimeServices({ env, redis, logger, metrics, backends, signals: runSignals });
  closers.push(() => realtime.close());
  const streams = createRealtimeStreams({ env, redis, prisma, logger, metrics, signals: runSignals });
  closers.push(() => streams.close());
  const writePipeline = createWritePipeline({ env, redis, logger, metrics, signals: runSignals });
  closers.push(() => writePipeline.close());
  const tasks = new TaskRegistry(options.tasks);
  const worker = env.WORKER_ENABLED
    ? createWorker({
        env,
        prisma,
        sqlPool,
        logger,
        metadataWriter,
        tasks,
        signals: runSignals,
        acceptLogs: (environmentId, items) => writePipeline.acceptor.accept("low", environmentId, items),
        ownProcess: options.ownWorkerProcess,
      })
    : undefined;
  if (worker) {
    worker.start();
    closers.push(() => worker.stop());
    // The lifecycle's timers run where the worker runs (docs/decisions/093-run-lifecycle-timers.md).
    const engine = createRunEngine({ env, prisma, logger, tasks, worker, signals: runSignals });
    const started = engine
      .start()
      .catch((error) => logger.error({ err: (error as Error).message }, "engine: timers could not start"));
    closers.push(async () => {
      await started;
      await engine.stop();
    });
  }
  return {
    env,
    prisma,
    sqlPool,
    redis,
    logger,
    metrics,
    // A key rolled or revoked on this instance: the feeds' remembered authentications are dropped and
    // open event streams re-checked at once (docs/decisions/072-realtime-sse-and-cheap-repoll.md).
    auth: new Authenticator({ prisma, onForgetKeys: () => realtime.forgetCredentials() }),
    sessionCookie: createSessionCookie(env),
    writePool,
    metadataWriter,
    feedLookups: new FeedLookups({ prisma }),
    tasks,
    realtime,
    runSignals,
    streams,
    writePipeline,
    signInThrottle: createSignInThrottle(redis, env),
    worker,
    onClose: (fn) => closers.push(fn),
    async close() {
      for (const fn of closers.reverse()) await fn();
      redis.disconnect();
      await sqlPool.end();
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
    /**
     * The request body as the HTTP server reads it, when a hot route (server/app.ts) serves a streamed
     * body: the route reads it instead of `request.body`, with no web stream in between (ADR 081).
     */
    requestBody?: AsyncIterable<Uint8Array>;
  }
}
