/**
 * Delayed runs (docs/decisions/093-run-lifecycle-timers.md): a DELAYED run is queued when its
 * `delayUntil` passes. Its bucket timer is armed once the run is committed; should that fail (the
 * process dies in between), the engine's recurring sweep promotes the run on its next pass.
 */
import type { PrismaClient, TaskRun } from "@runfeed/database";
import { bucketOf, setBucketTimer, TIMERS } from "./timers.server";
import type { Db } from "../services/runLookup.server";
import { badRequest, unprocessable } from "../services/httpErrors.server";
import { resolveDelay } from "@runfeed/core";

/** Arms one timer per distinct bucket of the delayed runs among `runs`. */
export async function armDelayTimers(db: Db, runs: Array<Pick<TaskRun, "status" | "delayUntil">>): Promise<void> {
  const buckets = new Map<number, Date>();
  for (const run of runs) {
    if (run.status === "DELAYED" && run.delayUntil) buckets.set(bucketOf(run.delayUntil), run.delayUntil);
  }
  for (const at of buckets.values()) await setBucketTimer(db, TIMERS.promoteDelayed, at);
}

/**
 * Moves a DELAYED run's `delayUntil` (and its TTL deadline by as much); 422 for a run that is no
 * longer delayed, 400 for a delay that does not parse.
 */
export async function rescheduleRun(
  prisma: PrismaClient,
  run: TaskRun,
  delay: string | Date,
  now = new Date(),
): Promise<TaskRun> {
  const delayUntil = resolveDelay(delay, now);
  if (!delayUntil) throw badRequest(`Invalid request body: delay: not a duration or date ("${String(delay)}")`);
  const rows = await prisma.$queryRaw<TaskRun[]>`
    UPDATE "TaskRun"
    SET "delayUntil" = ${delayUntil.toISOString()}::timestamp,
        "ttlExpiresAt" = "ttlExpiresAt" + (${delayUntil.toISOString()}::timestamp - "delayUntil"),
        "updatedAt" = (now() AT TIME ZONE 'UTC')
    WHERE id = ${run.id} AND status = 'DELAYED'
    RETURNING *`;
  const updated = rows[0];
  if (!updated) throw unprocessable(`Cannot reschedule run ${run.friendlyId}: only a DELAYED run can be rescheduled`);
  await armDelayTimers(prisma, [updated]);
  return updated;
}
