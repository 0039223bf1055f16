/**
 * Durable timers on graphile-worker (docs/decisions/093-run-lifecycle-timers.md). A timer is a
 * graphile-worker job with a `run_at`; the database row it acts on stays the truth, and every handler
 * is an idempotent, status-guarded write, so a timer that fires twice, late or on another instance
 * does no harm. Timers are added with SQL inside the caller's transaction, so a run and its timer
 * commit together or not at all.
 */
import { Logger as GraphileLogger, run, type Runner, type TaskList } from "graphile-worker";
import type { Logger } from "../services/logger.server";
import type { Db } from "../services/runLookup.server";

/** Every timer the engine sets. */
export const TIMERS = {
  /** Promotes every DELAYED run that is due (one job per bucket of due times). */
  promoteDelayed: "run.promote-delayed",
  /** Expires every queued run whose TTL passed (one job per bucket). */
  expire: "run.expire",
  /** Queues again a run waiting for its next attempt. */
  requeue: "run.requeue",
  /** Times out an attempt that ran past its maxDuration. */
  timeout: "run.timeout",
  /** Crash detection and the catch-up of every sweep; re-arms itself. */
  sweep: "engine.sweep",
  /** Triggers one tick of a cron schedule and arms the next. */
  scheduleTick: "schedule.tick",
} as const;
export type TimerName = (typeof TIMERS)[keyof typeof TIMERS];

/**
 * Due times are grouped in buckets of this many ms: 10,000 runs due in the same second share ten
 * timers, each promoting its runs with one UPDATE, rather than 10,000 jobs.
 */
export const TIMER_BUCKET_MS = 100;

export const bucketOf = (at: Date) => Math.ceil(at.getTime() / TIMER_BUCKET_MS) * TIMER_BUCKET_MS;

/**
 * Sets (or moves) the timer `key` to fire `name` at `runAt`. Inside `db`'s transaction when it is one.
 * A key names one pending timer: setting it again moves that timer (graphile-worker's job_key).
 */
export async function setTimer(
  db: Db,
  name: TimerName,
  key: string,
  runAt: Date,
  payload: object = {},
  /** `preserve_run_at`: keep a pending timer's time (only its payload changes). */
  mode: "replace" | "preserve_run_at" = "replace",
): Promise<void> {
  await db.$executeRaw`SELECT graphile_worker.add_job(
    ${name}, ${JSON.stringify(payload)}::json, run_at => ${runAt.toISOString()}::timestamptz,
    job_key => ${key}, max_attempts => 25, job_key_mode => ${mode})`;
}

/** Removes the pending timer `key`, if any (a timer already being handled finishes). */
export async function clearTimer(db: Db, key: string): Promise<void> {
  await db.$executeRaw`SELECT graphile_worker.remove_job(${key})`;
}

/** A bucket timer: every due time in the same bucket shares one job that handles them all. */
export async function setBucketTimer(db: Db, name: TimerName, at: Date): Promise<void> {
  const bucket = bucketOf(at);
  await setTimer(db, name, `${name}:${bucket}`, new Date(bucket));
}

export interface TimerRunnerOptions {
  connectionString: string;
  logger: Logger;
  handlers: Partial<Record<TimerName, (payload: unknown) => Promise<void>>>;
  /** Jobs running at once in this process. */
  concurrency: number;
  /** How often to look for timers that became due (new ones due now are announced at once). */
  pollIntervalMs: number;
}

/** Starts graphile-worker with the engine's handlers; `stop()` waits for running handlers. */
export async function startTimerRunner(options: TimerRunnerOptions): Promise<Runner> {
  const { logger } = options;
  const taskList: TaskList = {};
  for (const [name, handler] of Object.entries(options.handlers)) {
    if (handler) taskList[name] = (payload) => handler(payload);
  }
  return run({
    connectionString: options.connectionString,
    taskList,
    concurrency: options.concurrency,
    pollInterval: options.pollIntervalMs,
    noHandleSignals: true,
    logger: new GraphileLogger((scope) => (level, message, meta) => {
      const fields = { timer: scope.taskIdentifier, job: scope.jobId, ...(meta as object) };
      if (level === "error") logger.error(fields, `timers: ${message}`);
      else if (level === "warning") logger.warn(fields, `timers: ${message}`);
      else logger.debug(fields, `timers: ${message}`);
    }),
  });
}
