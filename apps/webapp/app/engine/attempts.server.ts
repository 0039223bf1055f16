/**
 * Attempts (docs/decisions/093-run-lifecycle-timers.md): how an attempt ends. Every write is guarded
 * by the run being EXECUTING in this very attempt (`attemptCount`), so a worker that comes back after
 * its run was declared crashed, timed out, canceled or retried elsewhere changes nothing.
 *
 *   EXECUTING ─fails, attempts left─► RETRYING_AFTER_FAILURE ─backoff─► PENDING ─claim─► EXECUTING …
 *             └fails, none left────► COMPLETED_WITH_ERRORS | CRASHED (no heartbeat)
 *             └maxDuration─────────► TIMED_OUT
 */
import {
  internalRunError,
  RUN_ERROR_CODES,
  resolveRetryOptions,
  retryDelayMs,
  type RetryOptions,
  type TaskRunStatus,
} from "@runfeed/core";
import { Prisma, type PrismaClient } from "@runfeed/database";
import { setTimer, TIMERS } from "./timers.server";

/** An attempt's end must be recorded even on a loaded database: wait longer than Prisma's 2 s default for a connection. */
const TRANSACTION_OPTIONS = { maxWait: 15_000, timeout: 30_000 } as const;

export interface AttemptRef {
  runId: string;
  /** The attempt's number: the run's `attemptCount` when it was claimed. */
  attempt: number;
}

/** Attempt row statuses. */
export type AttemptStatus = "EXECUTING" | "COMPLETED" | "FAILED" | "CRASHED" | "TIMED_OUT" | "CANCELED" | "INTERRUPTED";

export type AttemptEnd = "retrying" | "final" | "stale";

const executingIn = (ref: AttemptRef): Prisma.TaskRunWhereInput => ({
  id: ref.runId,
  status: "EXECUTING",
  attemptCount: ref.attempt,
});

/** The retry settings in force for a run: the task's, then the trigger's `maxAttempts`. */
export function retryOptionsFor(task: RetryOptions | undefined, runMaxAttempts: number | null) {
  return resolveRetryOptions(task, runMaxAttempts === null ? undefined : { maxAttempts: runMaxAttempts });
}

export async function closeAttempt(
  db: Prisma.TransactionClient | PrismaClient,
  ref: AttemptRef,
  status: AttemptStatus,
  error?: object,
): Promise<void> {
  await db.taskRunAttempt.updateMany({
    where: { runId: ref.runId, number: ref.attempt, status: "EXECUTING" },
    data: { status, completedAt: new Date(), ...(error ? { error: error as Prisma.InputJsonValue } : {}) },
  });
}

/**
 * A failed attempt: with attempts left the run waits in RETRYING_AFTER_FAILURE (error kept) and a
 * timer queues it again after the backoff; otherwise it ends in `finalStatus`.
 */
export async function failAttempt(
  prisma: PrismaClient,
  ref: AttemptRef,
  input: {
    error: object;
    retry: Required<RetryOptions>;
    finalStatus: Extract<TaskRunStatus, "COMPLETED_WITH_ERRORS" | "CRASHED" | "SYSTEM_FAILURE">;
    attemptStatus: AttemptStatus;
    /** Columns written only when the run ends here (usage, cost). */
    finalData?: Prisma.TaskRunUpdateManyMutationInput;
    now?: Date;
  },
): Promise<AttemptEnd> {
  const now = input.now ?? new Date();
  const retryable = input.finalStatus !== "SYSTEM_FAILURE" && ref.attempt < input.retry.maxAttempts;
  return prisma.$transaction(async (tx) => {
    await closeAttempt(tx, ref, input.attemptStatus, input.error);
    if (retryable) {
      const nextAttemptAt = new Date(now.getTime() + retryDelayMs(input.retry, ref.attempt + 1));
      const { count } = await tx.taskRun.updateMany({
        where: executingIn(ref),
        data: { status: "RETRYING_AFTER_FAILURE", error: input.error, nextAttemptAt, updatedAt: now },
      });
      if (count === 0) return "stale";
      await setTimer(tx, TIMERS.requeue, `retry:${ref.runId}`, nextAttemptAt, { runId: ref.runId });
      return "retrying";
    }
    const { count } = await tx.taskRun.updateMany({
      where: executingIn(ref),
      data: { status: input.finalStatus, error: input.error, completedAt: now, updatedAt: now, ...input.finalData },
    });
    return count === 0 ? "stale" : "final";
  }, TRANSACTION_OPTIONS);
}

/** A successful attempt: COMPLETED_SUCCESSFULLY with its output. */
export async function completeAttempt(
  prisma: PrismaClient,
  ref: AttemptRef,
  data: Prisma.TaskRunUpdateManyMutationInput,
): Promise<AttemptEnd> {
  return prisma.$transaction(async (tx) => {
    await closeAttempt(tx, ref, "COMPLETED");
    const now = new Date();
    const { count } = await tx.taskRun.updateMany({
      where: executingIn(ref),
      // A retry that succeeded: the earlier attempt's error no longer describes the run.
      data: { ...data, status: "COMPLETED_SUCCESSFULLY", error: Prisma.DbNull, completedAt: now, updatedAt: now },
    });
    return count === 0 ? "stale" : "final";
  }, TRANSACTION_OPTIONS);
}

/** The attempt ran past its run's `maxDuration`: TIMED_OUT (never retried). */
export async function timeOutAttempt(prisma: PrismaClient, ref: AttemptRef, maxDurationInSeconds: number) {
  const error = internalRunError(
    RUN_ERROR_CODES.maxDurationExceeded,
    `Run exceeded its maxDuration of ${maxDurationInSeconds} s and was stopped.`,
  );
  return prisma.$transaction(async (tx) => {
    await closeAttempt(tx, ref, "TIMED_OUT", error);
    const now = new Date();
    const { count } = await tx.taskRun.updateMany({
      where: executingIn(ref),
      data: { status: "TIMED_OUT", error: error as unknown as Prisma.InputJsonValue, completedAt: now, updatedAt: now },
    });
    return count === 0 ? "stale" : "final";
  }, TRANSACTION_OPTIONS);
}

/** The timer set when an attempt with a maxDuration starts. */
export async function armTimeoutTimer(prisma: PrismaClient, ref: AttemptRef, startedAt: Date, seconds: number) {
  await setTimer(prisma, TIMERS.timeout, `timeout:${ref.runId}`, new Date(startedAt.getTime() + seconds * 1000), {
    runId: ref.runId,
    attempt: ref.attempt,
  });
}
