/**
 * Dequeue: claims up to `limit` PENDING runs and moves them to EXECUTING in one statement.
 *
 * Fair across environments, and across queues inside an environment: every (environment, queue)
 * with queued work (found by a skip-scan over the PENDING runs' queue index, one probe per queue)
 * offers its oldest runs, up to its share of the claim (`FOR UPDATE SKIP LOCKED`, so concurrent
 * workers never claim the same run); the environments split the claim evenly, and an environment's
 * queues split its part evenly — one busy environment cannot starve another, and a backlog of child
 * runs cannot starve a new run of another task. A queue with a concurrency limit
 * (engine/queues.server.ts) offers no more than its free slots. Timestamps are written in UTC to match Prisma's
 * `TIMESTAMP(3)` columns. A run whose TTL passed is never started (the TTL sweep expires it). The
 * same statement opens each claimed run's attempt row (engine/heartbeats.server.ts), so a worker
 * killed right after claiming still leaves an attempt whose missing heartbeats tell.
 */
import type pg from "pg";

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

/**
 * Claims on `pool` (Services.sqlPool) with one named prepared statement: each connection plans it once,
 * not once per claim (planning cost as much as executing it; docs/decisions/093-run-lifecycle-timers.md
 * "Dequeue").
 */
export async function claimRuns(pool: pg.Pool, limit: number, workerId = "unnamed"): Promise<ClaimedRun[]> {
  if (limit <= 0) return [];
  const { rows } = await pool.query<ClaimedRun>({ name: "claim-runs", text: CLAIM_RUNS, values: [limit, workerId] });
  return rows;
}

/** $1: how many runs at most; $2: the claiming worker's id (attempt rows). */
const CLAIM_RUNS = `
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
    -- Queues with a concurrency limit (TaskQueue). Each is locked for this claim; a queue another claim
    -- holds right now is skipped (it offers nothing this time). Locking reads the row's newest version,
    -- so "executing" counts every run claimed by a claim that committed before this one took the lock.
    limited AS (
      SELECT tq."runtimeEnvironmentId" AS env_id, tq.name AS queue FROM "TaskQueue" tq
      WHERE tq."concurrencyLimit" IS NOT NULL
        AND (tq."runtimeEnvironmentId", tq.name) IN (SELECT env_id, queue FROM queues)
    ),
    locked AS (
      SELECT tq."runtimeEnvironmentId" AS env_id, tq.name AS queue,
             GREATEST(tq."concurrencyLimit" - tq.executing, 0) AS free
      FROM "TaskQueue" tq
      WHERE (tq."runtimeEnvironmentId", tq.name) IN (SELECT env_id, queue FROM limited)
      FOR UPDATE SKIP LOCKED
    ),
    -- The claim's runs are split exactly: evenly between the environments, and an environment's part evenly
    -- between its queues; the remainder of each division goes one run each to the first environments
    -- (queues) in a random order, so no one is favoured over time. The shares add up to the limit, so a
    -- claim locks no run it then leaves (a lock is a write too); a limited queue offers no more than its
    -- free slots, and a queue with fewer due runs than its share leaves the rest of it unused this time.
    envs AS (
      SELECT env_id, (row_number() OVER (ORDER BY random()) - 1)::int AS i, count(*) OVER ()::int AS n
      FROM (SELECT DISTINCT env_id FROM queues) e
    ),
    env_parts AS (
      SELECT env_id, $1::int / n + (i < $1::int % n)::int AS part FROM envs
    ),
    queue_order AS (
      SELECT q.env_id, q.queue, p.part,
             (row_number() OVER (PARTITION BY q.env_id ORDER BY random()) - 1)::int AS j,
             count(*) OVER (PARTITION BY q.env_id)::int AS m
      FROM queues q JOIN env_parts p USING (env_id)
    ),
    shares AS (
      SELECT o.env_id, o.queue,
             CASE WHEN l.env_id IS NULL THEN o.fair ELSE LEAST(o.fair, COALESCE(k.free, 0)) END AS share
      FROM (SELECT env_id, queue, part / m + (j < part % m)::int AS fair FROM queue_order) o
      LEFT JOIN limited l ON l.env_id = o.env_id AND l.queue = o.queue
      LEFT JOIN locked k ON k.env_id = o.env_id AND k.queue = o.queue
    ),
    picked AS (
      SELECT c.id FROM shares
      CROSS JOIN LATERAL (
        SELECT r.id
        FROM "TaskRun" r
        WHERE r."runtimeEnvironmentId" = shares.env_id
          AND COALESCE(r.queue, '') = shares.queue
          AND r.status = 'PENDING'
          AND (r."delayUntil" IS NULL OR r."delayUntil" <= (now() AT TIME ZONE 'UTC'))
          AND (r."ttlExpiresAt" IS NULL OR r."ttlExpiresAt" > (now() AT TIME ZONE 'UTC'))
        ORDER BY r."queuedAt" ASC NULLS LAST, r."createdAt" ASC, r.id
        LIMIT shares.share
        FOR UPDATE SKIP LOCKED
      ) c
      WHERE shares.share > 0
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
                t."attemptCount", t."startedAt", t."maxAttempts", t."maxDurationInSeconds", t.queue
    ),
    -- The limited queues count what this claim took (the trigger on TaskRun counts them out again).
    counted AS (
      UPDATE "TaskQueue" tq SET executing = tq.executing + took.n, "updatedAt" = (now() AT TIME ZONE 'UTC')
      FROM (SELECT "runtimeEnvironmentId" AS env_id, COALESCE(queue, '') AS queue, count(*)::int AS n
            FROM claimed GROUP BY 1, 2) took
      JOIN locked USING (env_id, queue)
      WHERE tq."runtimeEnvironmentId" = took.env_id AND tq.name = took.queue
    ),
    attempts AS (
      INSERT INTO "TaskRunAttempt" ("runId", number, "workerId")
      SELECT id, "attemptCount", $2::text FROM claimed
      ON CONFLICT ("runId", number) DO UPDATE
        SET "workerId" = EXCLUDED."workerId", status = 'EXECUTING', "startedAt" = EXCLUDED."startedAt",
            "heartbeatAt" = EXCLUDED."heartbeatAt", "completedAt" = NULL, error = NULL
    )
    SELECT id, "friendlyId", "taskIdentifier", "runtimeEnvironmentId", "projectId", payload, "payloadType",
           metadata, "runTags", "parentTaskRunId", "rootTaskRunId", depth, "attemptCount",
           "startedAt" AT TIME ZONE 'UTC' AS "startedAt", "maxAttempts", "maxDurationInSeconds"
    FROM claimed`;
