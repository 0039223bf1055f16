/**
 * Wiring of the example worker (style rule 8: the class takes plain options, this module takes the
 * services). createServices starts it when WORKER_ENABLED and stops it on close.
 */
import type { PrismaClient } from "@runfeed/database";
import type pg from "pg";
import type { WebappEnv } from "../env.server";
import { RunWorker } from "./runWorker.server";
import { RunEngine } from "../engine/runEngine.server";
import type { TaskRegistry } from "./taskRegistry.server";
import type { Logger } from "../services/logger.server";
import type { RunMetadataWriter } from "../services/metadataWriter.server";
import type { RunChangePublisher } from "../services/realtime/native/runSignals.server";
import { type LowClassAccept, runLogWriter } from "../services/runLogs.server";

export function createWorker(deps: {
  env: WebappEnv;
  prisma: PrismaClient;
  sqlPool: pg.Pool;
  logger: Logger;
  metadataWriter: RunMetadataWriter;
  /** The write pipeline's low class: tasks' log lines go through it (runLogWriter). */
  acceptLogs?: LowClassAccept;
  tasks: TaskRegistry;
  signals?: RunChangePublisher;
  /** Where tasks reach the API; defaults to APP_ORIGIN, else http://HOST:PORT. */
  apiBaseURL?: string;
  /** The worker has its process to itself. */
  ownProcess?: boolean;
}): RunWorker {
  const { env } = deps;
  return new RunWorker({
    prisma: deps.prisma,
    pool: deps.sqlPool,
    logger: deps.logger,
    metadataWriter: deps.metadataWriter,
    writeLogs: runLogWriter(deps.prisma, deps.acceptLogs, deps.signals),
    tasks: deps.tasks,
    signals: deps.signals,
    metadataMaximumSize: env.TASK_RUN_METADATA_MAXIMUM_SIZE,
    apiBaseURL: deps.apiBaseURL ?? env.APP_ORIGIN ?? `http://${env.HOST}:${env.PORT}`,
    heartbeatIntervalMs: env.WORKER_HEARTBEAT_INTERVAL_MS,
    cancelGracePeriodMs: env.WORKER_CANCEL_GRACE_PERIOD_MS,
    ownProcess: deps.ownProcess ?? false,
  });
}

/** The engine's timers (docs/decisions/093-run-lifecycle-timers.md); `onQueued` wakes this process's worker. */
export function createRunEngine(deps: {
  env: WebappEnv;
  prisma: PrismaClient;
  logger: Logger;
  tasks: TaskRegistry;
  worker?: RunWorker;
  signals?: RunChangePublisher;
}): RunEngine {
  const { env } = deps;
  return new RunEngine({
    prisma: deps.prisma,
    connectionString: env.DATABASE_URL,
    logger: deps.logger,
    retryOptionsOf: (taskIdentifier) => deps.tasks.get(taskIdentifier)?.retry,
    onQueued: () => deps.worker?.wake(),
    signals: deps.signals,
    heartbeatTimeoutMs: env.WORKER_HEARTBEAT_TIMEOUT_MS,
    sweepIntervalMs: env.ENGINE_SWEEP_INTERVAL_MS,
    timerPollIntervalMs: env.ENGINE_TIMER_POLL_INTERVAL_MS,
    timerConcurrency: 4,
  });
}
