/**
 * Per-queue concurrency limits (docs/decisions/093-run-lifecycle-timers.md "Queues"). A queue with a
 * limit has a `TaskQueue` row; the worker's claim (worker/claim.server.ts) locks it and takes at most
 * `concurrencyLimit − executing` of its runs, and a trigger on TaskRun counts runs out of EXECUTING
 * (migration 20261210000000_queue_concurrency). A limit comes from a trigger's
 * `options.queue.concurrencyLimit` (the newest one wins, as in Trigger.dev) or from a task definition's
 * `queue.concurrencyLimit` (for its default queue `task/<id>`, set in every environment when a worker starts).
 */
import type { Db } from "../services/runLookup.server";

/** The queue a run of `taskId` goes to when its trigger names none. */
export const defaultQueueName = (taskId: string) => `task/${taskId}`;

/**
 * Sets a queue's limit. A new row starts with the runs of that queue executing right now, so a limit
 * set while runs execute counts them.
 */
export async function setQueueConcurrencyLimit(db: Db, environmentId: string, name: string, limit: number) {
  await db.$executeRaw`
    INSERT INTO "TaskQueue" ("runtimeEnvironmentId", name, "concurrencyLimit", executing)
    SELECT ${environmentId}, ${name}, ${limit}, count(*)::int FROM "TaskRun"
    WHERE "runtimeEnvironmentId" = ${environmentId} AND COALESCE(queue, '') = ${name} AND status = 'EXECUTING'
    ON CONFLICT ("runtimeEnvironmentId", name) DO UPDATE
      SET "concurrencyLimit" = EXCLUDED."concurrencyLimit", "updatedAt" = (now() AT TIME ZONE 'UTC')
      WHERE "TaskQueue"."concurrencyLimit" IS DISTINCT FROM EXCLUDED."concurrencyLimit"`;
}

/** The task definitions' limits, on their default queues in every environment (a worker's start). */
export async function applyTaskQueueLimits(
  db: Db,
  tasks: ReadonlyArray<{ id: string; queue?: { concurrencyLimit?: number } }>,
) {
  const limited = tasks.filter((task) => task.queue?.concurrencyLimit !== undefined);
  if (limited.length === 0) return;
  const environments = await db.runtimeEnvironment.findMany({ select: { id: true } });
  for (const environment of environments)
    for (const task of limited)
      await setQueueConcurrencyLimit(db, environment.id, defaultQueueName(task.id), task.queue!.concurrencyLimit!);
}
