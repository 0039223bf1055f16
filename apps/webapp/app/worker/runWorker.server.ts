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
 * and a task that ignores it is cut off after a grace period. A run waiting for its children
 * (`ctx.waitForChildren`) gives its slot back, so parents can never starve their own children. On
 * stop, running tasks are aborted and put back in the queue.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { INPUT_STREAM_SCOPE_TYPE, STREAM_WRITE_SCOPE_TYPE, type MetadataOperation } from "@runfeed/core";
import {
  metadata as sdkMetadata,
  pipeline as sdkPipeline,
  setTaskRunContextProvider,
  streams,
  type ChildRunResult,
  type TaskContext,
  type TaskRunContext,
} from "@runfeed/sdk";
import type { PrismaClient } from "@runfeed/database";
import type { Logger } from "../services/logger.server";
import { claimRuns, type ClaimedRun } from "./claim.server";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { internalRunError, RUN_ERROR_CODES } from "@runfeed/core";
import {
  armTimeoutTimer,
  closeAttempt,
  completeAttempt,
  failAttempt,
  retryOptionsFor,
  type AttemptRef,
} from "../engine/attempts.server";
import { recordHeartbeats } from "../engine/heartbeats.server";
import { updateRunMetadata } from "../services/metadata.server";
import type { RunMetadataWriter } from "../services/metadataWriter.server";
import { parsePacket } from "../services/retrieve.server";
import { signPublicToken } from "../services/auth.server";
import { createChildBatch } from "./childBatch.server";
import { type RunLogEntry, runLogWriter } from "../services/runLogs.server";
import { TaskRunLogger } from "./taskLogger.server";
import type { TaskRegistry } from "./taskRegistry.server";

export interface RunWorkerOptions {
  prisma: PrismaClient;
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

/** A run's own token lives this long: the longest a task may write its streams. */
const RUN_TOKEN_LIFETIME = "24h";

/**
 * The run each task executes in, for @runfeed/sdk's `streams.*` called inside it (no argument needed:
 * the worker says which run, where the API is, and with which token).
 */
const taskRuns = new AsyncLocalStorage<TaskRunContext>();
setTaskRunContextProvider(() => taskRuns.getStore());

export const RunWorkerDefaults = {
  concurrency: 4,
  pollIntervalMs: 250,
  childPollIntervalMs: 250,
  metadataMaximumSize: 262_144,
  heartbeatIntervalMs: 1_000,
  cancelGracePeriodMs: 5_000,
} as const;

/** One attempt this process executes. */
interface Execution extends AttemptRef {
  /** Fires the task's signal; its reason says why. */
  abort: AbortController;
}

/** Why an attempt was stopped from outside, from the run's status in the heartbeat's answer. */
const STOP_REASONS: Record<string, string> = {
  CANCELED: "The run was canceled.",
  TIMED_OUT: "The run exceeded its maxDuration.",
  CRASHED: "The run was declared crashed (its heartbeats stopped).",
};

/** Cost model of the example machine (small-1x): cents per second of execution, and per run. */
const CENTS_PER_SECOND = 0.00169;
const BASE_COST_IN_CENTS = 0.0025;

export class RunWorker {
  readonly #options: Required<Omit<RunWorkerOptions, "apiBaseURL" | "writeLogs">> &
    Pick<RunWorkerOptions, "apiBaseURL" | "writeLogs">;
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
        if (answer.status !== "EXECUTING" || answer.attemptCount !== execution.attempt) {
          const reason =
            STOP_REASONS[answer.status] ?? `The run is ${answer.status} now (attempt ${answer.attemptCount}).`;
          execution.abort.abort(new RunStoppedError(reason, answer.status));
        }
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
    const { logger, prisma } = this.#options;
    while (!this.#abort.signal.aborted) {
      const free = this.#options.concurrency - this.#busy;
      let claimed: ClaimedRun[] = [];
      if (free > 0) {
        try {
          claimed = await claimRuns(prisma, free, this.#options.workerId);
        } catch (error) {
          if (this.#abort.signal.aborted) break;
          logger.warn({ err: (error as Error).message }, "worker: claiming runs failed");
        }
      }
      for (const run of claimed) this.#track(this.#execute(run));
      if (claimed.length === 0 || claimed.length < free) await this.#idle();
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
        await this.#fail(run, started, {
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
        write: this.#options.writeLogs ?? runLogWriter(prisma),
      });
      const ctx = this.#context(run, abort.signal, taskLogger, releaseSlot, () => {
        this.#busy++;
        holdsSlot = true;
      });
      const runContext = await this.#runContext(run);
      const execution = runContext
        ? taskRuns.run(runContext, () => task.run(parsePayload(run), ctx))
        : task.run(parsePayload(run), ctx);
      const outcome = await this.#untilDoneOrCutOff(execution, abort.signal);
      if (!outcome.ok && !abort.signal.aborted) {
        const error = outcome.error;
        taskLogger.error(error instanceof Error ? error.message : String(error), { name: (error as Error)?.name });
      }
      await taskLogger.flush();
      await this.#flushSdkWrites(run);
      if (abort.signal.aborted) {
        await this.#stopped(run, ref, abort.signal.reason);
        return;
      }
      if (outcome.ok) await this.#complete(run, started, outcome.value);
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
        await this.#fail(run, started, { error: builtInError(outcome.error), finalStatus: "COMPLETED_WITH_ERRORS" });
      }
    } catch (error) {
      logger.error({ run: run.friendlyId, err: (error as Error).message }, "worker: could not record the attempt");
    } finally {
      this.#abort.signal.removeEventListener("abort", stopWithWorker);
      this.#executing.delete(run.id);
      releaseSlot();
    }
  }

  /** The task's result, or — once its signal fired — whatever it has done by the end of the grace period. */
  async #untilDoneOrCutOff(
    execution: Promise<unknown>,
    signal: AbortSignal,
  ): Promise<{ ok: true; value: unknown } | { ok: false; error: unknown }> {
    const settled = execution.then(
      (value) => ({ ok: true as const, value }),
      (error: unknown) => ({ ok: false as const, error }),
    );
    let cutOff: ReturnType<typeof setTimeout> | undefined;
    let arm = () => {};
    const graceOver = new Promise<{ ok: false; error: unknown }>((resolve) => {
      arm = () => {
        cutOff = setTimeout(
          () => resolve({ ok: false, error: new Error("cut off after the grace period") }),
          this.#options.cancelGracePeriodMs,
        );
      };
    });
    if (signal.aborted) arm();
    else signal.addEventListener("abort", arm, { once: true });
    try {
      return await Promise.race([settled, graceOver]);
    } finally {
      clearTimeout(cutOff);
      signal.removeEventListener("abort", arm);
    }
  }

  /** The attempt was stopped from outside (or the worker is stopping): record it on the attempt only. */
  async #stopped(run: ClaimedRun, ref: AttemptRef, reason: unknown) {
    const { prisma, logger } = this.#options;
    if (reason instanceof RunStoppedError) {
      // The run's status already says what happened (CANCELED, TIMED_OUT, CRASHED, retried elsewhere).
      const status =
        reason.runStatus === "CANCELED" || reason.runStatus === "TIMED_OUT" ? reason.runStatus : "INTERRUPTED";
      await closeAttempt(prisma, ref, status);
      logger.info({ run: run.friendlyId, attempt: ref.attempt, reason: reason.message }, "worker: attempt stopped");
      return;
    }
    // Shutting down: hand the run back to the queue for the next worker.
    await prisma.$transaction([
      prisma.taskRunAttempt.updateMany({
        where: { runId: ref.runId, number: ref.attempt, status: "EXECUTING" },
        data: { status: "INTERRUPTED", completedAt: new Date() },
      }),
      prisma.taskRun.updateMany({
        where: { id: run.id, status: "EXECUTING", attemptCount: ref.attempt },
        data: { status: "PENDING", startedAt: null, queuedAt: new Date() },
      }),
    ]);
  }

  #usage(started: number) {
    const durationMs = Math.round(performance.now() - started);
    return {
      usageDurationMs: durationMs,
      costInCents: (durationMs / 1000) * CENTS_PER_SECOND,
      baseCostInCents: BASE_COST_IN_CENTS,
    };
  }

  async #complete(run: ClaimedRun, started: number, output: unknown) {
    await completeAttempt(
      this.#options.prisma,
      { runId: run.id, attempt: run.attemptCount },
      {
        ...this.#usage(started),
        output: output === undefined ? null : JSON.stringify(output),
        outputType: "application/json",
      },
    );
  }

  async #fail(
    run: ClaimedRun,
    started: number,
    input: { error: object; finalStatus: "COMPLETED_WITH_ERRORS" | "SYSTEM_FAILURE" },
  ) {
    const task = this.#options.tasks.get(run.taskIdentifier);
    const end = await failAttempt(
      this.#options.prisma,
      { runId: run.id, attempt: run.attemptCount },
      {
        error: input.error,
        retry: retryOptionsFor(task?.retry, run.maxAttempts),
        finalStatus: input.finalStatus,
        attemptStatus: "FAILED",
        finalData: this.#usage(started),
      },
    );
    if (end === "retrying")
      this.#options.logger.info({ run: run.friendlyId, attempt: run.attemptCount }, "worker: run will be retried");
  }

  /** The run's identity for @runfeed/sdk inside the task: its id, the API and its own token. */
  /**
   * Writes a task made through @runfeed/sdk's client-side buffers (`metadata.forRun(…)`, pipeline
   * writers) are sent before the run's outcome is recorded, as the SDK asks of whoever ends a task
   * (docs/decisions/092-write-pipeline.md). Flushes this process's buffers (other runs' too: earlier, never
   * later). A failure is logged; it does not fail the run.
   */
  async #flushSdkWrites(run: ClaimedRun) {
    try {
      await Promise.all([sdkMetadata.flush(), sdkPipeline.flushAll()]);
    } catch (error) {
      this.#options.logger.warn(
        { run: run.friendlyId, err: (error as Error).message },
        "worker: the task's buffered SDK writes could not be sent",
      );
    }
  }

  async #runContext(run: ClaimedRun): Promise<TaskRunContext | undefined> {
    const { apiBaseURL, prisma } = this.#options;
    if (!apiBaseURL) return undefined;
    const environment = await prisma.runtimeEnvironment.findUniqueOrThrow({
      where: { id: run.runtimeEnvironmentId },
      include: { project: true, parentEnvironment: true },
    });
    const related = await prisma.taskRun.findMany({
      where: { id: { in: [run.parentTaskRunId, run.rootTaskRunId].filter((id): id is string => id !== null) } },
      select: { id: true, friendlyId: true },
    });
    const friendly = (id: string | null) => related.find((r) => r.id === id)?.friendlyId;
    const scopes = [
      `write:${STREAM_WRITE_SCOPE_TYPE}:${run.friendlyId}`,
      `read:runs:${run.friendlyId}`,
      `write:${INPUT_STREAM_SCOPE_TYPE}:${run.friendlyId}`,
    ];
    return {
      runId: run.friendlyId,
      parentRunId: friendly(run.parentTaskRunId),
      rootRunId: friendly(run.rootTaskRunId),
      baseURL: apiBaseURL,
      accessToken: await signPublicToken(environment, { scopes }, RUN_TOKEN_LIFETIME),
    };
  }

  #context(
    run: ClaimedRun,
    signal: AbortSignal,
    taskLogger: TaskRunLogger,
    releaseSlot: () => void,
    reacquireSlot: () => void,
  ): TaskContext {
    const { prisma, logger } = this.#options;
    let current: Record<string, unknown> = parseObject(run.metadata);
    // The same metadata service as PUT /api/v1/runs/:id/metadata (no lost increments, size limit).
    const writer = this.#options.metadataWriter;
    const apply = async (operations: MetadataOperation[]) => {
      current = await updateRunMetadata(writer, run.runtimeEnvironmentId, run.id, { operations });
    };
    const applyParent = async (operations: MetadataOperation[]) => {
      if (run.parentTaskRunId)
        await updateRunMetadata(writer, run.runtimeEnvironmentId, run.id, { parentOperations: operations });
    };
    return {
      run: {
        id: run.id,
        friendlyId: run.friendlyId,
        taskIdentifier: run.taskIdentifier,
        tags: run.runTags ?? [],
        attempt: run.attemptCount,
      },
      signal,
      metadata: {
        current: () => current,
        set: (key, value) => apply([{ type: "set", key, value }]),
        increment: (key, by = 1) => apply([{ type: "increment", key, value: by }]),
        replace: (value) => apply([{ type: "update", value }]),
        parent: {
          set: (key, value) => applyParent([{ type: "set", key, value }]),
          increment: (key, by = 1) => applyParent([{ type: "increment", key, value: by }]),
        },
      },
      batchTrigger: async (taskIdentifier, items) => {
        const environment = await prisma.runtimeEnvironment.findUniqueOrThrow({
          where: { id: run.runtimeEnvironmentId },
        });
        const batch = await createChildBatch(
          prisma,
          run,
          environment,
          taskIdentifier,
          items,
          this.#options.metadataMaximumSize,
        );
        this.wake();
        return batch;
      },
      waitForChildren: async () => {
        releaseSlot();
        try {
          for (;;) {
            const children = await prisma.taskRun.findMany({
              where: { parentTaskRunId: run.id },
              select: { friendlyId: true, status: true, completedAt: true, output: true },
              orderBy: { createdAt: "asc" },
            });
            if (children.every((child) => child.completedAt !== null)) {
              return children.map(
                (child): ChildRunResult => ({
                  friendlyId: child.friendlyId,
                  status: child.status,
                  output: parseJson(child.output),
                }),
              );
            }
            await sleep(RunWorkerDefaults.childPollIntervalMs, undefined, { signal });
          }
        } finally {
          reacquireSlot();
        }
      },
      ownProcess: this.#options.ownProcess,
      sleep: (ms) => sleep(ms, undefined, { signal }),
      // The run's context (taskRuns) is active while the task runs, so the SDK knows run and token.
      streams: {
        pipe: (key, source) => streams.pipe(key, source, { signal }),
        append: (key, value) => streams.append(key, value, { signal }),
        input: <T>(key: string) => {
          const stream = streams.input<T>(key);
          return {
            once: (options?: { timeoutMs?: number }) => stream.once({ signal, ...options }),
            on: (handler: (data: T) => void) => stream.on(handler, { signal }),
          };
        },
      },
      logger: taskLogger,
      log: (message, fields) => logger.info({ run: run.friendlyId, ...fields }, message),
    };
  }
}

/** The reason a task's signal carries when its run moved on without it. */
export class RunStoppedError extends Error {
  override name = "RunStoppedError";
  constructor(
    message: string,
    /** The run's status that stopped the attempt. */
    readonly runStatus: string,
  ) {
    super(message);
  }
}

/** The payload as the task receives it: the same packet rules as the retrieve API (SDK triggers send super+json). */
function parsePayload(run: ClaimedRun): unknown {
  if (run.payloadType === "application/json") return parseJson(run.payload);
  if (run.payloadType === "application/super+json") return parsePacket(run.payload, run.payloadType);
  return run.payload;
}

function parseJson(text: string | null): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function parseObject(text: string | null): Record<string, unknown> {
  const value = parseJson(text);
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A thrown value as the contract's `TaskRunError` (§5.4): BUILT_IN_ERROR for Errors, STRING_ERROR otherwise. */
export function builtInError(error: unknown): object {
  if (error instanceof Error) {
    return { type: "BUILT_IN_ERROR", name: error.name, message: error.message, stackTrace: error.stack ?? "" };
  }
  return { type: "STRING_ERROR", raw: typeof error === "string" ? error : (JSON.stringify(error) ?? String(error)) };
}
