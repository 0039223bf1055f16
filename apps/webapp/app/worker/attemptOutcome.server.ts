/**
 * How one attempt executed by this worker ends, and its record (engine/attempts.server.ts does the
 * status-guarded writes): a result, a thrown error (retried when attempts are left), or a stop from
 * outside — the run was canceled, timed out or declared crashed (a `RunStoppedError` fired the task's
 * signal), or the worker is shutting down (the run goes back to the queue). A task still running a
 * grace period after its signal fired is cut off: its slot is freed, though JavaScript cannot stop the
 * function itself (ADR 093 "Known limits").
 */
import type { PrismaClient } from "@runfeed/database";
import type { Logger } from "../services/logger.server";
import {
  closeAttempt,
  completeAttempt,
  failAttempt,
  retryOptionsFor,
  type AttemptRef,
} from "../engine/attempts.server";
import type { ClaimedRun } from "./claim.server";

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

/** Why an attempt was stopped from outside, from the run's status in the heartbeat's answer. */
const STOP_REASONS: Record<string, string> = {
  CANCELED: "The run was canceled.",
  TIMED_OUT: "The run exceeded its maxDuration.",
  CRASHED: "The run was declared crashed (its heartbeats stopped).",
};

/** The stop for a run whose status or attempt moved on while this worker executed `attempt`, if it did. */
export function stopFor(
  answer: { status: string; attemptCount: number },
  attempt: number,
): RunStoppedError | undefined {
  if (answer.status === "EXECUTING" && answer.attemptCount === attempt) return undefined;
  const reason = STOP_REASONS[answer.status] ?? `The run is ${answer.status} now (attempt ${answer.attemptCount}).`;
  return new RunStoppedError(reason, answer.status);
}

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** The task's result, or — once its signal fired — whatever it has done by the end of the grace period. */
export async function untilDoneOrCutOff(
  execution: Promise<unknown>,
  signal: AbortSignal,
  gracePeriodMs: number,
): Promise<Outcome> {
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
        gracePeriodMs,
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

/** Cost model of the example machine (small-1x): cents per second of execution, and per run. */
const CENTS_PER_SECOND = 0.00169;
const BASE_COST_IN_CENTS = 0.0025;

function usage(started: number) {
  const durationMs = Math.round(performance.now() - started);
  return {
    usageDurationMs: durationMs,
    costInCents: (durationMs / 1000) * CENTS_PER_SECOND,
    baseCostInCents: BASE_COST_IN_CENTS,
  };
}

/** The task returned: COMPLETED_SUCCESSFULLY with its output. `started`: performance.now() at its start. */
export async function recordCompleted(prisma: PrismaClient, run: ClaimedRun, started: number, output: unknown) {
  await completeAttempt(
    prisma,
    { runId: run.id, attempt: run.attemptCount },
    {
      ...usage(started),
      output: output === undefined ? null : JSON.stringify(output),
      outputType: "application/json",
    },
  );
}

/** The task threw (or could not be found): retried when attempts are left, else `finalStatus`. */
export async function recordFailed(
  prisma: PrismaClient,
  logger: Logger,
  run: ClaimedRun,
  started: number,
  input: {
    error: object;
    finalStatus: "COMPLETED_WITH_ERRORS" | "SYSTEM_FAILURE";
    taskRetry?: Parameters<typeof retryOptionsFor>[0];
  },
) {
  const end = await failAttempt(
    prisma,
    { runId: run.id, attempt: run.attemptCount },
    {
      error: input.error,
      retry: retryOptionsFor(input.taskRetry, run.maxAttempts),
      finalStatus: input.finalStatus,
      attemptStatus: "FAILED",
      finalData: usage(started),
    },
  );
  if (end === "retrying")
    logger.info({ run: run.friendlyId, attempt: run.attemptCount }, "worker: run will be retried");
}

/** The attempt was stopped from outside (or the worker is stopping): record it on the attempt only. */
export async function recordStopped(
  prisma: PrismaClient,
  logger: Logger,
  run: ClaimedRun,
  ref: AttemptRef,
  reason: unknown,
) {
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
