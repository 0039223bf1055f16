/**
 * Heartbeats (docs/decisions/093-run-lifecycle-timers.md): a worker stamps the attempts it executes
 * on their TaskRunAttempt rows (never the streamed TaskRun row) and learns in the same statement
 * whether each run is still EXECUTING in that attempt — that answer is how a cancel, a timeout or a
 * crash verdict reaches the task's AbortSignal.
 */
import type { PrismaClient } from "@runfeed/database";
import type { AttemptRef } from "./attempts.server";

export interface HeartbeatAnswer extends AttemptRef {
  /** The run's status now; anything but EXECUTING (or another attempt number) means: stop. */
  status: string;
  attemptCount: number;
}

export async function recordHeartbeats(prisma: PrismaClient, refs: AttemptRef[]): Promise<HeartbeatAnswer[]> {
  if (refs.length === 0) return [];
  const runIds = refs.map((ref) => ref.runId);
  const numbers = refs.map((ref) => ref.attempt);
  return prisma.$queryRaw<HeartbeatAnswer[]>`
    WITH mine AS (SELECT * FROM unnest(${runIds}::text[], ${numbers}::int[]) AS m("runId", number)),
    beat AS (
      UPDATE "TaskRunAttempt" a SET "heartbeatAt" = (now() AT TIME ZONE 'UTC')
      FROM mine WHERE a."runId" = mine."runId" AND a.number = mine.number AND a.status = 'EXECUTING'
    )
    SELECT mine."runId", mine.number AS attempt, r.status::text AS status, r."attemptCount"
    FROM mine JOIN "TaskRun" r ON r.id = mine."runId"`;
}

export interface StaleAttempt extends AttemptRef {
  taskIdentifier: string;
  maxAttempts: number | null;
  workerId: string;
  silentForMs: number;
}

/** Attempts of runs still EXECUTING whose last heartbeat is older than `deadlineMs`. */
export function findStaleAttempts(prisma: PrismaClient, deadlineMs: number): Promise<StaleAttempt[]> {
  return prisma.$queryRaw<StaleAttempt[]>`
    SELECT a."runId", a.number AS attempt, r."taskIdentifier", r."maxAttempts", a."workerId",
           (EXTRACT(EPOCH FROM ((now() AT TIME ZONE 'UTC') - a."heartbeatAt")) * 1000)::int AS "silentForMs"
    FROM "TaskRunAttempt" a
    JOIN "TaskRun" r ON r.id = a."runId" AND r.status = 'EXECUTING' AND r."attemptCount" = a.number
    WHERE a.status = 'EXECUTING'
      AND a."heartbeatAt" < (now() AT TIME ZONE 'UTC') - make_interval(secs => ${deadlineMs / 1000})
    LIMIT 1000`;
}

export interface OverdueAttempt extends AttemptRef {
  maxDurationInSeconds: number;
}

/** Runs EXECUTING past their maxDuration (the catch-up for a lost timeout timer). */
export function findOverdueAttempts(prisma: PrismaClient): Promise<OverdueAttempt[]> {
  return prisma.$queryRaw<OverdueAttempt[]>`
    SELECT id AS "runId", "attemptCount" AS attempt, "maxDurationInSeconds"
    FROM "TaskRun"
    WHERE status = 'EXECUTING' AND "maxDurationInSeconds" IS NOT NULL
      AND "startedAt" + make_interval(secs => "maxDurationInSeconds") < (now() AT TIME ZONE 'UTC')
    LIMIT 1000`;
}
