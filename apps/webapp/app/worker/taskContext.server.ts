/**
 * What a task function is handed while it runs (runWorker.server.ts executes it): its `TaskContext`
 * (run identity, signal, metadata through the same service as PUT …/metadata, child batches, waiting
 * for children without holding a worker slot, streams, its run log) and, for @runfeed/sdk's `streams.*`
 * called inside it, the run's identity (its id, where the API is and the run's own token).
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
import { updateRunMetadata } from "../services/metadata.server";
import type { RunMetadataWriter } from "../services/metadataWriter.server";
import { signPublicToken } from "../services/auth.server";
import { createChildBatch } from "./childBatch.server";
import type { ClaimedRun } from "./claim.server";
import { parseJson, parseObject } from "./taskValues.server";
import type { TaskRunLogger } from "./taskLogger.server";

/** A run's own token lives this long: the longest a task may write its streams. */
const RUN_TOKEN_LIFETIME = "24h";

/** How often a task waiting for its children looks at them. */
const CHILD_POLL_INTERVAL_MS = 250;

/**
 * The run each task executes in, for @runfeed/sdk's `streams.*` called inside it (no argument needed:
 * the worker says which run, where the API is, and with which token).
 */
const taskRuns = new AsyncLocalStorage<TaskRunContext>();
setTaskRunContextProvider(() => taskRuns.getStore());

/** Calls `fn` (the task) inside the run's identity, when it has one. */
export function runAsTask<T>(runContext: TaskRunContext | undefined, fn: () => T): T {
  return runContext ? taskRuns.run(runContext, fn) : fn();
}

/** The run's identity for @runfeed/sdk inside the task: its id, the API and its own token. */
export async function taskRunContext(
  prisma: PrismaClient,
  apiBaseURL: string | undefined,
  run: ClaimedRun,
): Promise<TaskRunContext | undefined> {
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

export interface TaskContextDeps {
  prisma: PrismaClient;
  logger: Logger;
  metadataWriter: RunMetadataWriter;
  metadataMaximumSize: number;
  ownProcess: boolean;
  /** Look for work now (a child batch was just queued). */
  wake: () => void;
}

/** The context the task function of `run` is called with. */
export function createTaskContext(
  deps: TaskContextDeps,
  run: ClaimedRun,
  signal: AbortSignal,
  taskLogger: TaskRunLogger,
  /** Gives the worker slot back while the task waits for its children, and takes it again. */
  slot: { release: () => void; reacquire: () => void },
): TaskContext {
  const { prisma, logger } = deps;
  let current: Record<string, unknown> = parseObject(run.metadata);
  // The same metadata service as PUT /api/v1/runs/:id/metadata (no lost increments, size limit).
  const writer = deps.metadataWriter;
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
      const batch = await createChildBatch(prisma, run, environment, taskIdentifier, items, deps.metadataMaximumSize);
      deps.wake();
      return batch;
    },
    waitForChildren: async () => {
      slot.release();
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
          await sleep(CHILD_POLL_INTERVAL_MS, undefined, { signal });
        }
      } finally {
        slot.reacquire();
      }
    },
    ownProcess: deps.ownProcess,
    sleep: (ms) => sleep(ms, undefined, { signal }),
    // The run's context (runAsTask) is active while the task runs, so the SDK knows run and token.
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

/**
 * Writes a task made through @runfeed/sdk's client-side buffers (`metadata.forRun(…)` handles,
 * `pipeline.writer(…)`) are sent before the run's outcome is recorded, as the SDK asks of whoever ends
 * a task (docs/decisions/092-write-pipeline.md). Flushes this process's buffers (other runs' too:
 * earlier, never later). A failure is logged; it does not fail the run.
 */
export async function flushTaskSdkWrites(logger: Logger, run: ClaimedRun): Promise<void> {
  try {
    await Promise.all([sdkMetadata.flush(), sdkPipeline.flushAll()]);
  } catch (error) {
    logger.warn(
      { run: run.friendlyId, err: (error as Error).message },
      "worker: the task's buffered SDK writes could not be sent",
    );
  }
}
