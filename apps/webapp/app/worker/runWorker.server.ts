/**
 * The example worker: claims queued runs (claim.server.ts), executes the task functions it was handed
 * (a TaskRegistry) and records how each attempt ends (engine/attempts.server.ts).
 *
 *   PENDING ──claim──► EXECUTING ──return──► COMPLETED_SUCCESSFULLY   (output, completedAt)
 *                                └─throw───► RETRYING_AFTER_FAILURE   (attempts left: queued again after backoff)
 *                                └─throw───► COMPLETED_WITH_ERRORS    (no attempts left)
 *                                └─no task─► SYSTEM_FAILURE           (INTERNAL_ERROR COULD_NOT_FIND_TASK)
 *
 * While a run executes, the worker heartbeats its attempt; the answer says whether the run is still
 * EXECUTING in it. When it is not (canceled, timed out, declared crashed), the task's signal fires,
 * and a task that ignores it is cut off after a grace period (attemptOutcome.server.ts). A run waiting
 * for its children (`ctx.waitForChildren`, taskContext.server.ts) gives its slot back, so parents can
 * never starve their own children. On stop, running tasks are aborted and put back in the queue.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type pg from "pg";
import { internalRunError, RUN_ERROR_CODES } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import type { Logger } from "../services/logger.server";
import { armTimeoutTimer, type AttemptRef } from "../engine/attempts.server";
import { recordHeartbeats } from "../engine/heartbeats.server";
import { applyTaskQueueLimits } from "../engine/queues.server";
import type { RunMetadataWriter } from "../services/metadataWriter.server";
import type { RunChangePublisher } from "../services/realtime/native/runSignals.server";
import { type RunLogEntry, runLogWriter } from "../services/runLogs.server";
import { recordCompleted, recordFailed, recordStopped, stopFor, untilDoneOrCutOff } from "./attemptOutcome.server";
import { claimRuns, type ClaimedRun } from "./claim.server";
import { createTaskContext, flushTaskSdkWrites, runAsTask, taskRunContext } from "./taskContext.server";
import { TaskRunLogger } from "./taskLogger.server";
import type { TaskRegistry } from "./taskRegistry.server";
import { builtInError, parsePayload } from "./taskValues.server";

export interface RunWorkerOptions {
  prisma: PrismaClient;
  /** Where runs are claimed (Services.sqlPool): the claim is a prepared statement on `pg`. */
  pool: pg.Pool;
  /** Status changes (claimed, completed, failed, handed back) are signalled to the realtime feeds. */
  signals?: RunChangePublisher;
  logger: Logger;
  /** The app instance's metadata writer (Services.metadataWriter): tasks write as PUT …/metadata does. */
  metadataWriter: RunMetadataWriter;
  /** Where tasks' log lines go (runLogWriter: the write pipeline's low class, else direct). Default: direct. */
  writeLogs?: (lines: RunLogEntry[]) => Promise<void>;
  /** The task functions it runs (Services.tasks, handed in by the process that starts the webapp). */
  tasks: TaskRegistry;
  /** Runs executing at once in this process (waiting parents excluded). */
  concurrency?: number;
  /** How often to look for work when idle; `wake()` short-cuts it. */
  pollIntervalMs?: number;
  metadataMaximumSize?: number;
  /**
   * Where tasks reach the API (their realtime streams, with the run's own token). Without it
   * `ctx.streams` and `streams.*` of @runfeed/sdk are unavailable to tasks.
   */
  apiBaseURL?: string;
  /** Names this process in attempt rows; unique per process. */
  workerId?: string;
  /** How often executing attempts are stamped (and cancels noticed). */
  heartbeatIntervalMs?: number;
  /** How long a task may keep running after its signal fired before it is cut off. */
  cancelGracePeriodMs?: number;
  /** This worker has a process of its own (tasks may end it: `crashy`). */
  ownProcess?: boolean;
}

export const RunWorkerDefaults = {
  concurrency: 4,
  pollIntervalMs: 250,
  metadataMaximumSize: 262_144,
  heartbeatIntervalMs: 1_000,
  cancelGracePeriodMs: 5_000,
} as const;

/** One attempt this process executes. */
interface Execution extends AttemptRef {
  /** Fires the task's signal; its reason says why. */
  abort: AbortController;
}

export class RunWorker {
  readonly #options: Required<Omit<RunWorkerOptions, "apiBaseURL" | "writeLogs" | "signals">> &
    Pick<RunWorkerOptions, "apiBaseURL" | "writeLogs" | "signals">;
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  readonly #executing = new Map<string, Execution>();
  #heartbeats: ReturnType<typeof setInterval> | undefined;
  #busy = 0;
  #loop: Promise<void> | undefined;
  #wakeUp: (() => void) | undefined;

  constructor(options: RunWorkerOptions) {
    this.#options = {
      concurrency: RunWorkerDefaults.concurrency,
      pollIntervalMs: RunWorkerDefaults.pollIntervalMs,
      metadataMaximumSize: RunWorkerDefaults.metadataMaximumSize,
      heartbeatIntervalMs: RunWorkerDefaults.heartbeatIntervalMs,
      cancelGracePeriodMs: RunWorkerDefaults.cancelGracePeriodMs,
      ownProcess: false,
      workerId: `${hostname()}:${process.pid}:${randomBytes(3).toString("hex")}`,
      ...options,
    };
  }

  get #taskContextDeps() {
    const { prisma, logger, metadataWriter, metadataMaximumSize, ownProcess } = this.#options;
    return { prisma, logger, metadataWriter, metadataMaximumSize, ownProcess, wake: () => this.wake() };
  }

  get workerId(): string {
    return this.#options.workerId;
  }

  start(): void {
    this.#loop ??= this.#run();
    this.#heartbeats ??= setInterval(() => void this.#heartbeat(), this.#options.heartbeatIntervalMs);
  }

  /**
   * Stamps every attempt this process executes and stops those whose run moved on without it. The
   * database says when a run must stop; this interval only decides how soon the worker asks.
   */
  async #heartbeat(): Promise<void> {
    const executions = [...this.#executing.values()];
    if (executions.length === 0) return;
    try {
      const answers = await recordHeartbeats(this.#options.prisma, executions);
      for (const answer of answers) {
        const execution = this.#executing.get(answer.runId);
        if (!execution || execution.abort.signal.aborted) continue;
        const stop = stopFor(answer, execution.attempt);
        if (stop) execution.abort.abort(stop);
      }
    } catch (error) {
      this.#options.logger.warn({ err: (error as Error).message }, "worker: heartbeat failed");
    }
  }

  /** Look for work now (after a trigger in this process). */
  wake(): void {
    this.#wakeUp?.();
  }

  /** Resolves once every run executing right now has finished (tests, graceful drains). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#inFlight]);
  }

  async stop(): Promise<void> {
    clearInterval(this.#heartbeats);
    this.#abort.abort(new Error("worker stopping"));
    this.wake();
    await this.#loop;
    await Promise.allSettled([...this.#inFlight]);
  }

  async #run(): Promise<void> {
    const { logger, pool, prisma, tasks } = this.#options;
    // The task definitions' queue limits hold before this worker claims anything.
    await applyTaskQueueLimits(prisma, tasks.all).catch((error) =>
      logger.warn({ err: (error as Error).message }, "worker: could not set the tasks' queue limits"),
    );
    while (!this.#abort.signal.aborted) {
      const free = this.#options.concurrency - this.#busy;
      let claimed: ClaimedRun[] = [];
      if (free > 0) {
        try {
          claimed = await claimRuns(pool, free, this.#options.workerId);
        } catch (error) {
          if (this.#abort.signal.aborted) break;
          logger.warn({ err: (error as Error).message }, "worker: claiming runs failed");
        }
      }
      const { signals } = this.#options;
      signals?.publishRunIdsChanged(claimed.map((run) => run.id));
      for (const run of claimed) this.#track(this.#execute(run).finally(() => signals?.publishRunIdsChanged([run.id])));
      // A claim may answer fewer runs than asked (each queue offers its share, limited queues their free
      // slots): ask again at once, and wait only when there was nothing to take.
      if (claimed.length === 0) await this.#idle();
    }
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.#options.pollIntervalMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wakeUp = done;
    });
  }

  #track(promise: Promise<void>) {
    this.#inFlight.add(promise);
    void promise.finally(() => this.#inFlight.delete(promise));
  }

  async #execute(run: ClaimedRun): Promise<void> {
    const { prisma, logger } = this.#options;
    this.#busy++;
    let holdsSlot = true;
    const releaseSlot = () => {
      if (holdsSlot) {
        holdsSlot = false;
        this.#busy--;
        this.wake();
      }
    };
    const task = this.#options.tasks.get(run.taskIdentifier);
    const ref: AttemptRef = { runId: run.id, attempt: run.attemptCount };
    const abort = new AbortController();
    const stopWithWorker = () => abort.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener("abort", stopWithWorker, { once: true });
    this.#executing.set(run.id, { ...ref, abort });
    const started = performance.now();
    try {
      if (!task) {
        await recordFailed(prisma, logger, run, started, {
          error: internalRunError(
            RUN_ERROR_CODES.couldNotFindTask,
            `No task "${run.taskIdentifier}" is registered with this worker.`,
          ),
          finalStatus: "SYSTEM_FAILURE",
        });
        return;
      }
      const maxDuration = run.maxDurationInSeconds ?? task.maxDuration;
      if (maxDuration) await armTimeoutTimer(prisma, ref, run.startedAt, maxDuration);
      const taskLogger = new TaskRunLogger({
        run,
        logger,
        write: this.#options.writeLogs ?? runLogWriter(prisma, undefined, this.#options.signals),
      });
      const ctx = createTaskContext(this.#taskContextDeps, run, abort.signal, taskLogger, {
        release: releaseSlot,
        reacquire: () => {
          this.#busy++;
          holdsSlot = true;
        },
      });
      const runContext = await taskRunContext(prisma, this.#options.apiBaseURL, run);
      const execution = runAsTask(runContext, () => task.run(parsePayload(run), ctx));
      const outcome = await untilDoneOrCutOff(execution, abort.signal, this.#options.cancelGracePeriodMs);
      if (!outcome.ok && !abort.signal.aborted) {
        const error = outcome.error;
        taskLogger.error(error instanceof Error ? error.message : String(error), { name: (error as Error)?.name });
      }
      await taskLogger.flush();
      await flushTaskSdkWrites(logger, run);
      if (abort.signal.aborted) {
        await recordStopped(prisma, logger, run, ref, abort.signal.reason);
        return;
      }
      if (outcome.ok) await recordCompleted(prisma, run, started, outcome.value);
      else {
        logger.info(
          {
            run: run.friendlyId,
            task: run.taskIdentifier,
            attempt: ref.attempt,
            err: (outcome.error as Error)?.message,
          },
          "worker: attempt failed",
        );
        await recordFailed(prisma, logger, run, started, {
          error: builtInError(outcome.error),
          finalStatus: "COMPLETED_WITH_ERRORS",
          taskRetry: task.retry,
        });
      }
    } catch (error) {
      logger.error({ run: run.friendlyId, err: (error as Error).message }, "worker: could not record the attempt");
    } finally {
      this.#abort.signal.removeEventListener("abort", stopWithWorker);
      this.#executing.delete(run.id);
      releaseSlot();
    }
  }
}
