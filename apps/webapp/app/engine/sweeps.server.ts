/**
 * The set-based status writes the timers fire (docs/decisions/093-run-lifecycle-timers.md). Each one
 * acts on every row that is due, not only the one its timer was set for, and each is guarded by the
 * status it leaves, so running it twice, late, or on two instances at once changes nothing more.
 * Timestamps are written in UTC to match Prisma's `TIMESTAMP(3)` columns.
 */
import { EXPIRED_RUN_MESSAGE_TEMPLATE } from "@runfeed/core";
import type { Db } from "../services/runLookup.server";

/** A sweep's changed runs (their realtime signals follow). */
type Changed = Promise<Array<{ id: string }>>;

/** DELAYED runs whose `delayUntil` passed → PENDING with `queuedAt`. Returns them. */
export function promoteDueDelayedRuns(db: Db): Changed {
  return db.$queryRaw`
    UPDATE "TaskRun"
    SET status = 'PENDING', "queuedAt" = (now() AT TIME ZONE 'UTC'), "updatedAt" = (now() AT TIME ZONE 'UTC')
    WHERE status = 'DELAYED' AND "delayUntil" <= (now() AT TIME ZONE 'UTC')
    RETURNING id`;
}

/** Queued or delayed runs whose TTL passed → EXPIRED with `expiredAt`, `completedAt` and a string error. */
export function expireDueRuns(db: Db): Changed {
  return db.$queryRaw`
    UPDATE "TaskRun"
    SET status = 'EXPIRED', "expiredAt" = (now() AT TIME ZONE 'UTC'), "completedAt" = (now() AT TIME ZONE 'UTC'),
        "updatedAt" = (now() AT TIME ZONE 'UTC'),
        error = jsonb_build_object('type', 'STRING_ERROR', 'raw', replace(${EXPIRED_RUN_MESSAGE_TEMPLATE}, '{ttl}', coalesce(ttl, '')))
    WHERE status IN ('PENDING', 'DELAYED') AND "ttlExpiresAt" <= (now() AT TIME ZONE 'UTC')
    RETURNING id`;
}

/** Runs waiting for their next attempt whose backoff passed → PENDING with a new `queuedAt`. */
export function requeueDueRetries(db: Db): Changed {
  return db.$queryRaw`
    UPDATE "TaskRun"
    SET status = 'PENDING', "queuedAt" = (now() AT TIME ZONE 'UTC'), "updatedAt" = (now() AT TIME ZONE 'UTC'),
        "nextAttemptAt" = NULL
    WHERE status = 'RETRYING_AFTER_FAILURE' AND "nextAttemptAt" <= (now() AT TIME ZONE 'UTC')
    RETURNING id`;
}
