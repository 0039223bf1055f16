/**
 * Dequeue: claims up to `limit` PENDING runs and moves them to EXECUTING in one statement.
 *
 * Fair across environments, and across queues inside an environment: every (environment, queue)
 * with queued work (found by a skip-scan over the PENDING runs' queue index, one probe per queue)
 * offers its oldest runs (`FOR UPDATE SKIP LOCKED`, so concurrent workers never
 * claim the same run); inside an environment the queues take turns, and the environments take
 * turns with each other — one busy environment cannot starve another, and a backlog of child runs
 * cannot starve a new run of another task. Timestamps are written in UTC to match Prisma's
 * `TIMESTAMP(3)` columns. A run whose TTL passed is never started (the TTL sweep expires it). The
 * same statement opens each claimed run's attempt row (engine/heartbeats.server.ts), so a worker
 * killed right after claiming still leaves an attempt whose missing heartbeats tell.
 */
import type { PrismaClient } from "@runfeed/database";

export interface ClaimedRun {
  id: string;
  friendlyId: string;
  taskIdentifier: string;
  runtimeEnvironmentId: string;
  projectId: string;
  payload: string;
  payloadType: string;
  metadata: string | null;
  runTags: string[] | null;
  parentTaskRunId: string | null;
  rootTaskRunId: string | null;
  depth: number;
  attemptCount: number;
  startedAt: Date;
  maxAttempts: number | null;
  maxDurationInSeconds: number | null;
}

export async function claimRuns(prisma: PrismaClient, limit: number, workerId = "unnamed"): Promise<ClaimedRun[]> {
  if (limit <= 0) return [];
  return prisma.$queryRaw<ClaimedRun[]>`
    WITH RECURSIVE queues AS (
      -- A skip-scan over "TaskRun_pending_queue": each step finds the next (environment, queue) with a
      -- PENDING run, one index probe per queue whatever the number of runs queued in it.
      (SELECT "runtimeEnvironmentId" AS env_id, COALESCE(queue, '') AS queue
       FROM "TaskRun" WHERE status = 'PENDING'
       ORDER BY "runtimeEnvironmentId", COALESCE(queue, '') LIMIT 1)
      UNION ALL
      SELECT next.env_id, next.queue FROM queues q
      CROSS JOIN LATERAL (
        SELECT "runtimeEnvironmentId" AS env_id, COALESCE(queue, '') AS queue
        FROM "TaskRun"
        WHERE status = 'PENDING' AND ("runtimeEnvironmentId", COALESCE(queue, '')) > (q.env_id, q.queue)
        ORDER BY "runtimeEnvironmentId", COALESCE(queue, '') LIMIT 1
      ) next
    ),
    candidates AS (
      SELECT c.* FROM queues
      CROSS JOIN LATERAL (
        SELECT r.id, r."runtimeEnvironmentId" AS env_id, r.queue, r."queuedAt", r."createdAt"
        FROM "TaskRun" r
        WHERE r."runtimeEnvironmentId" = queues.env_id
          AND COALESCE(r.queue, '') = queues.queue
          AND r.status = 'PENDING'
          AND (r."delayUntil" IS NULL OR r."delayUntil" <= (now() AT TIME ZONE 'UTC'))
          AND (r."ttlExpiresAt" IS NULL OR r."ttlExpiresAt" > (now() AT TIME ZONE 'UTC'))
        ORDER BY r."queuedAt" ASC NULLS LAST, r."createdAt" ASC, r.id
        LIMIT ${limit}
        FOR UPDATE SKIP LOCKED
      ) c
    ),
    in_queue AS (
      SELECT id, env_id, "queuedAt", "createdAt",
             row_number() OVER (PARTITION BY env_id, queue ORDER BY "queuedAt" ASC NULLS LAST, "createdAt" ASC, id) AS queue_rank
      FROM candidates
    ),
    in_env AS (
      SELECT id, row_number() OVER (PARTITION BY env_id ORDER BY queue_rank, "queuedAt" ASC NULLS LAST, "createdAt" ASC, id) AS env_rank
      FROM in_queue
    ),
    picked AS (
      SELECT id FROM in_env ORDER BY env_rank, random() LIMIT ${limit}
    ),
    claimed AS (
      UPDATE "TaskRun" t
      SET status = 'EXECUTING',
          "startedAt" = (now() AT TIME ZONE 'UTC'),
          "updatedAt" = (now() AT TIME ZONE 'UTC'),
          "attemptCount" = t."attemptCount" + 1
      FROM picked
      WHERE t.id = picked.id
      RETURNING t.id, t."friendlyId", t."taskIdentifier", t."runtimeEnvironmentId", t."projectId", t.payload,
                t."payloadType", t.metadata, t."runTags", t."parentTaskRunId", t."rootTaskRunId", t.depth,
                t."attemptCount", t."startedAt", t."maxAttempts", t."maxDurationInSeconds"
    ),
    attempts AS (
      INSERT INTO "TaskRunAttempt" ("runId", number, "workerId")
      SELECT id, "attemptCount", ${workerId} FROM claimed
      ON CONFLICT ("runId", number) DO UPDATE
        SET "workerId" = EXCLUDED."workerId", status = 'EXECUTING', "startedAt" = EXCLUDED."startedAt",
            "heartbeatAt" = EXCLUDED."heartbeatAt", "completedAt" = NULL, error = NULL
    )
    SELECT * FROM claimed`;
}
