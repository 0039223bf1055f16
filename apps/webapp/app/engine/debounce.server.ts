/**
 * Debounce (docs/decisions/093-run-lifecycle-timers.md): a trigger with `debounce: {key, delay}`
 * becomes a DELAYED run holding the key; triggers of the same task and key while that run is still
 * DELAYED join it instead of making a run: its `delayUntil` moves to now + delay (never past the
 * first trigger + `maxDelay`), `trailing` mode takes the newest payload, and the answer names the
 * run with `isCached: true`. Once the run is queued the key is free and the next trigger starts a new
 * run. A unique partial index (env, task, key) WHERE status = 'DELAYED' settles races.
 */
import { parseDurationMs, type TriggerTaskOptions } from "@runfeed/core";
import type { TaskRun } from "@runfeed/database";
import type { Db } from "../services/runLookup.server";

/** Without `maxDelay`, a burst can push its run back for at most this long. */
export const DEFAULT_DEBOUNCE_MAX_DELAY_MS = 3_600_000;

export interface DebounceWindow {
  key: string;
  delayUntil: Date;
  maxUntil: Date;
  trailing: boolean;
}

/** The window a trigger asks for; undefined when a duration does not parse. */
export function debounceWindow(
  debounce: NonNullable<TriggerTaskOptions["debounce"]>,
  now: Date,
): DebounceWindow | undefined {
  const delayMs = parseDurationMs(debounce.delay);
  const maxDelayMs =
    debounce.maxDelay === undefined ? DEFAULT_DEBOUNCE_MAX_DELAY_MS : parseDurationMs(debounce.maxDelay);
  if (delayMs === undefined || maxDelayMs === undefined) return undefined;
  return {
    key: debounce.key,
    delayUntil: new Date(now.getTime() + delayMs),
    maxUntil: new Date(now.getTime() + Math.max(delayMs, maxDelayMs)),
    trailing: debounce.mode === "trailing",
  };
}

/**
 * Joins the DELAYED run holding `key`, pushing its delay back; undefined when none holds it (the
 * caller creates the run). The update is guarded by status, so a run queued meanwhile is left alone.
 */
export async function debounceTrigger(
  db: Db,
  input: {
    environmentId: string;
    taskId: string;
    key: string;
    delayUntil: Date;
    trailing: boolean;
    payload: { payload: string; payloadType: string } | undefined;
  },
): Promise<TaskRun | undefined> {
  const rows = await db.$queryRaw<TaskRun[]>`
    UPDATE "TaskRun"
    SET "delayUntil" = LEAST(${input.delayUntil.toISOString()}::timestamp, coalesce("debounceUntil", 'infinity')),
        "ttlExpiresAt" = "ttlExpiresAt" + (LEAST(${input.delayUntil.toISOString()}::timestamp, coalesce("debounceUntil", 'infinity')) - "delayUntil"),
        payload = CASE WHEN ${input.trailing} AND ${input.payload?.payload ?? null}::text IS NOT NULL
                       THEN ${input.payload?.payload ?? null}::text ELSE payload END,
        "payloadType" = CASE WHEN ${input.trailing} AND ${input.payload?.payloadType ?? null}::text IS NOT NULL
                       THEN ${input.payload?.payloadType ?? null}::text ELSE "payloadType" END,
        "updatedAt" = (now() AT TIME ZONE 'UTC')
    WHERE "runtimeEnvironmentId" = ${input.environmentId} AND "taskIdentifier" = ${input.taskId}
      AND "debounceKey" = ${input.key} AND status = 'DELAYED'
    RETURNING *`;
  return rows[0];
}

/** A unique violation of the debounce index: two first triggers of one key raced. */
export function isDebounceKeyConflict(error: unknown): boolean {
  const e = error as { code?: string; meta?: unknown; message?: string };
  return (e?.code === "P2002" || e?.code === "P2010") && JSON.stringify(e.meta ?? e.message ?? "").includes("debounce");
}
