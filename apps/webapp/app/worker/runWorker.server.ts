/**
 * The example worker: claims queued runs (claim.server.ts), executes the task functions it was handed
 * (a TaskRegistry) and records the outcome.
 *
 *   PENDING ──claim──► EXECUTING ──return──► COMPLETED_SUCCESSFULLY   (output, completedAt)
 *                                └─throw───► COMPLETED_WITH_ERRORS    (BUILT_IN_ERROR, completedAt)
 *                                └─no task─► SYSTEM_FAILURE           (INTERNAL_ERROR COULD_NOT_FIND_TASK)
 *
 * A run waiting for its children (`ctx.waitForChildren`) gives its slot back, so parents can never
 * starve their own children. On stop, running tasks are aborted and put back in the queue.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { INPUT_STREAM_SCOPE_TYPE, STREAM_WRITE_SCOPE_TYPE, type MetadataOperation } from "@runfeed/core";
import {
  setTaskRunContextProvider,
  streams,
  type ChildRunResult,
  type TaskContext,
  type TaskRunContext,
} from "@runfeed/sdk";
import type { PrismaClient } from "@runfeed/database";
import type { Logger } from "../services/logger.server";
import { claimRuns, type ClaimedRun } from "./claim.server";
import { updateRunMetadata, type RunMetadataWriter } from "../services/metadata.server";
import { signPublicToken } from "../services/auth.server";
import { createChildBatch } from "./childBatch.server";
import { appendRunLogs } from "../services/runLogs.server";
import { TaskRunLogger } from "./taskLogger.server";
import type { TaskRegistry } from "./taskRegistry.server";

export interface RunWorkerOptions {
  prisma: PrismaClient;
  logger: Logger;
  /** The app instance's metadata writer (Services.metadataWriter): tasks write as PUT …/metadata does. */
  metadataWriter: RunMetadataWriter;
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
} as const;

/** Cost model of the example machine (small-1x): cents per second of execution, and per run. */
const CENTS_PER_SECOND = 0.00169;
const BASE_COST_IN_CENTS = 0.0025;

export class RunWorker {
  readonly #options: Required<Omit<RunWorkerOptions, "apiBaseURL">> & Pick<RunWorkerOptions, "apiBaseURL">;
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  #busy = 0;
  #loop: Promise<void> | undefined;
  #wakeUp: (() => void) | undefined;

  constructor(options: RunWorkerOptions) {
    this.#options = {
      concurrency: RunWorkerDefaults.concurrency,
      pollIntervalMs: RunWorkerDefaults.pollIntervalMs,
      metadataMaximumSize: RunWorkerDefaults.metadataMaximumSize,
      ...options,
    };
  }

  start(): void {
    this.#loop ??= this.#run();
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
          claimed = await claimRuns(prisma, free);
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
    const started = performance.now();
    let taskLogger: TaskRunLogger | undefined;
    try {
      if (!task) {
        await this.#finish(run, started, {
          status: "SYSTEM_FAILURE",
          error: {
            type: "INTERNAL_ERROR",
            code: "COULD_NOT_FIND_TASK",
            message: `No task "${run.taskIdentifier}" is registered with this worker.`,
          },
        });
        return;
      }
      taskLogger = new TaskRunLogger({
        run,
        logger,
        write: (lines) => appendRunLogs(prisma, lines),
      });
      const ctx = this.#context(run, taskLogger, releaseSlot, () => {
        this.#busy++;
        holdsSlot = true;
      });
      const runContext = await this.#runContext(run);
      const output = await (runContext
        ? taskRuns.run(runContext, () => task.run(parsePayload(run), ctx))
        : task.run(parsePayload(run), ctx));
      await taskLogger.flush();
      await this.#finish(run, started, { status: "COMPLETED_SUCCESSFULLY", output });
    } catch (error) {
      if (!this.#abort.signal.aborted && taskLogger) {
        taskLogger.error(error instanceof Error ? error.message : String(error), { name: (error as Error)?.name });
      }
      await taskLogger?.flush();
      if (this.#abort.signal.aborted) {
        // Shutting down: hand the run back to the queue for the next worker.
        await prisma.taskRun
          .updateMany({ where: { id: run.id, status: "EXECUTING" }, data: { status: "PENDING", startedAt: null } })
          .catch(() => {});
        return;
      }
      logger.info(
        { run: run.friendlyId, task: run.taskIdentifier, err: (error as Error).message },
        "worker: run failed",
      );
      await this.#finish(run, started, { status: "COMPLETED_WITH_ERRORS", error: builtInError(error) }).catch(
        (finishError) =>
          logger.error(
            { run: run.friendlyId, err: (finishError as Error).message },
            "worker: could not record failure",
          ),
      );
    } finally {
      releaseSlot();
    }
  }

  async #finish(
    run: ClaimedRun,
    started: number,
    outcome:
      | { status: "COMPLETED_SUCCESSFULLY"; output: unknown }
      | { status: "COMPLETED_WITH_ERRORS" | "SYSTEM_FAILURE"; error: object },
  ) {
    const durationMs = Math.round(performance.now() - started);
    // Only an EXECUTING run is finished here: a run canceled meanwhile keeps its CANCELED.
    await this.#options.prisma.taskRun.updateMany({
      where: { id: run.id, status: "EXECUTING" },
      data: {
        status: outcome.status,
        completedAt: new Date(),
        usageDurationMs: durationMs,
        costInCents: (durationMs / 1000) * CENTS_PER_SECOND,
        baseCostInCents: BASE_COST_IN_CENTS,
        ...("output" in outcome
          ? {
              output: outcome.output === undefined ? null : JSON.stringify(outcome.output),
              outputType: "application/json",
            }
          : { error: outcome.error }),
      },
    });
  }

  /** The run's identity for @runfeed/sdk inside the task: its id, the API and its own token. */
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
    taskLogger: TaskRunLogger,
    releaseSlot: () => void,
    reacquireSlot: () => void,
  ): TaskContext {
    const { prisma, logger } = this.#options;
    const signal = this.#abort.signal;
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

function parsePayload(run: ClaimedRun): unknown {
  if (run.payloadType === "application/json") return parseJson(run.payload);
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
