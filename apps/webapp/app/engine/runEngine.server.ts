/**
 * The run engine's timer side (docs/decisions/093-run-lifecycle-timers.md): graphile-worker firing
 * the lifecycle's timers in this process, plus one recurring sweep that detects crashed attempts and
 * catches up on anything a lost or late timer missed. Any number of processes may run it: each timer
 * is taken by one of them, and every handler is a status-guarded write.
 */
import { internalRunError, RUN_ERROR_CODES, type RetryOptions } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import type { Runner } from "graphile-worker";
import { z } from "zod";
import type { Logger } from "../services/logger.server";
import { failAttempt, retryOptionsFor, timeOutAttempt } from "./attempts.server";
import { findOverdueAttempts, findStaleAttempts } from "./heartbeats.server";
import { expireDueRuns, promoteDueDelayedRuns, requeueDueRetries } from "./sweeps.server";
import { setTimer, startTimerRunner, TIMERS } from "./timers.server";
import { fireScheduleTick } from "./schedules.server";
import { type RunChangePublisher, runChangedOf } from "../services/realtime/native/runSignals.server";

export interface RunEngineOptions {
  prisma: PrismaClient;
  connectionString: string;
  logger: Logger;
  /** Retry settings of each task this deployment knows (by task id). */
  retryOptionsOf: (taskIdentifier: string) => RetryOptions | undefined;
  /** Called when runs were queued here (promoted, requeued), so a local worker claims them at once. */
  onQueued?: () => void;
  /** An attempt with no heartbeat for this long is declared crashed. */
  heartbeatTimeoutMs: number;
  /** How often the recurring sweep runs. */
  sweepIntervalMs: number;
  /** How often graphile-worker looks for timers that became due. */
  timerPollIntervalMs: number;
  /** Timers handled at once in this process. */
  timerConcurrency: number;
  /** Every status it changes is signalled to the realtime feeds. */
  signals?: RunChangePublisher;
}

export const RunEngineDefaults = {
  heartbeatTimeoutMs: 30_000,
  sweepIntervalMs: 1_000,
  timerPollIntervalMs: 100,
  timerConcurrency: 4,
} as const;

const RunPayload = z.object({ runId: z.string() });
const AttemptPayload = z.object({ runId: z.string(), attempt: z.number().int() });
const SchedulePayload = z.object({ scheduleId: z.string(), tick: z.string() });

export class RunEngine {
  readonly #options: RunEngineOptions;
  #runner: Runner | undefined;
  #rearm: ReturnType<typeof setInterval> | undefined;

  constructor(options: RunEngineOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    const { prisma, logger } = this.#options;
    this.#runner = await startTimerRunner({
      connectionString: this.#options.connectionString,
      logger,
      concurrency: this.#options.timerConcurrency,
      pollIntervalMs: this.#options.timerPollIntervalMs,
      handlers: {
        [TIMERS.promoteDelayed]: async () => this.#queued(await promoteDueDelayedRuns(prisma)),
        [TIMERS.expire]: async () => this.#changed(await expireDueRuns(prisma)),
        [TIMERS.requeue]: async (payload) => {
          RunPayload.parse(payload);
          this.#queued(await requeueDueRetries(prisma));
        },
        [TIMERS.timeout]: async (payload) => {
          const { runId, attempt } = AttemptPayload.parse(payload);
          const run = await prisma.taskRun.findUnique({ where: { id: runId }, select: { maxDurationInSeconds: true } });
          if (run?.maxDurationInSeconds) await timeOutAttempt(prisma, { runId, attempt }, run.maxDurationInSeconds);
          this.#changed([{ id: runId }]);
        },
        [TIMERS.sweep]: async () => {
          try {
            await this.sweep();
          } finally {
            await this.#armSweep();
          }
        },
        [TIMERS.scheduleTick]: async (payload) => {
          const { scheduleId, tick } = SchedulePayload.parse(payload);
          const run = await fireScheduleTick(prisma, scheduleId, new Date(tick));
          if (!run) return;
          this.#options.signals?.publishRunChanged(runChangedOf(run));
          this.#options.onQueued?.();
        },
      },
    });
    await this.#armSweep();
    // A process killed mid-sweep leaves that timer locked (graphile-worker frees it only after 4 h):
    // each instance re-arms it now and then, keeping a pending one's time, so sweeps never stop.
    this.#rearm = setInterval(() => void this.#armSweep("preserve_run_at"), this.#options.sweepIntervalMs * 10);
  }

  async stop(): Promise<void> {
    clearInterval(this.#rearm);
    await this.#runner?.stop();
    this.#runner = undefined;
  }

  /**
   * One pass of everything time-driven: crashed attempts, overdue attempts, due delayed runs, due
   * retries and expired TTLs. Each timer does its part on time; this pass makes them all at most one
   * sweep interval late if a timer was lost.
   */
  async sweep(): Promise<void> {
    const { prisma, logger } = this.#options;
    for (const stale of await findStaleAttempts(prisma, this.#options.heartbeatTimeoutMs)) {
      const error = internalRunError(
        RUN_ERROR_CODES.heartbeatTimeout,
        `No heartbeat from worker ${stale.workerId} for ${Math.round(stale.silentForMs / 1000)} s (deadline ${Math.round(this.#options.heartbeatTimeoutMs / 1000)} s): the worker crashed or was stopped mid-run.`,
      );
      const end = await failAttempt(prisma, stale, {
        error,
        retry: retryOptionsFor(this.#options.retryOptionsOf(stale.taskIdentifier), stale.maxAttempts),
        finalStatus: "CRASHED",
        attemptStatus: "CRASHED",
      });
      this.#changed([{ id: stale.runId }]);
      logger.warn({ run: stale.runId, attempt: stale.attempt, worker: stale.workerId, end }, "engine: attempt crashed");
    }
    for (const overdue of await findOverdueAttempts(prisma)) {
      await timeOutAttempt(prisma, overdue, overdue.maxDurationInSeconds);
      this.#changed([{ id: overdue.runId }]);
    }
    this.#queued([...(await promoteDueDelayedRuns(prisma)), ...(await requeueDueRetries(prisma))]);
    this.#changed(await expireDueRuns(prisma));
  }

  #queued(runs: Array<{ id: string }>) {
    this.#changed(runs);
    if (runs.length > 0) this.#options.onQueued?.();
  }

  #changed(runs: Array<{ id: string }>) {
    if (runs.length > 0) this.#options.signals?.publishRunIdsChanged(runs.map((run) => run.id));
  }

  /** One pending sweep timer for the whole deployment (its key), re-armed by each pass. */
  async #armSweep(mode: "replace" | "preserve_run_at" = "replace") {
    await setTimer(
      this.#options.prisma,
      TIMERS.sweep,
      TIMERS.sweep,
      new Date(Date.now() + this.#options.sweepIntervalMs),
      {},
      mode,
    ).catch((error) => this.#options.logger.warn({ err: (error as Error).message }, "engine: could not arm the sweep"));
  }
}
