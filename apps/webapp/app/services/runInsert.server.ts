/**
 * Inserting new runs without Prisma's create (the critical write path; ADR
 * docs/decisions/091-trigger-fast-path.md). A trigger must be written before it is answered, so the
 * write itself is made cheap: one named prepared `INSERT` on a small `pg` pool for a single trigger,
 * and one multi-row `INSERT … SELECT FROM unnest(…)` for the items of a batch (inside the batch's
 * transaction, on the same pool: batch.server.ts). The returned TaskRun is built here from the inserted values and the columns'
 * defaults, the one mapping of a new row (a test compares it with Prisma's read of the same row).
 *
 * The single-row INSERT does nothing on a conflict with any unique index (idempotency key, one-time
 * token, friendly id) and says so: the caller then takes the ordinary path, which answers a conflict
 * exactly as before (the winner's run as cached, a 422 for a used token).
 */
import type { TaskRun, TaskRunStatus } from "@runfeed/database";
import type pg from "pg";
import { postgresTextArray, timestampParam } from "./realtime/shapeRewrite.server";

/** The columns a new run is inserted with; every other column takes its default. */
export interface NewRun {
  id: string;
  friendlyId: string;
  taskIdentifier: string;
  runtimeEnvironmentId: string;
  projectId: string;
  status: TaskRunStatus;
  createdAt: Date;
  updatedAt: Date;
  queuedAt: Date | null;
  delayUntil: Date | null;
  ttl: string | null;
  isTest: boolean;
  payload: string;
  payloadType: string;
  metadata: string | null;
  metadataType: string;
  runTags: string[];
  idempotencyKey: string | null;
  idempotencyKeyExpiresAt: Date | null;
  oneTimeUseToken: string | null;
  batchId: string | null;
  replayedFromTaskRunId: string | null;
  queue: string;
  concurrencyKey: string | null;
  maxAttempts: number | null;
  /** The lifecycle's settings and deadlines (docs/decisions/093-run-lifecycle-timers.md). */
  maxDurationInSeconds: number | null;
  ttlExpiresAt: Date | null;
  debounceKey: string | null;
  debounceUntil: Date | null;
  parentTaskRunId: string | null;
  rootTaskRunId: string | null;
  depth: number;
}

/** Column name → its SQL type, in insert order. */
const COLUMNS: ReadonlyArray<readonly [keyof NewRun, string]> = [
  ["id", "text"],
  ["friendlyId", "text"],
  ["taskIdentifier", "text"],
  ["runtimeEnvironmentId", "text"],
  ["projectId", "text"],
  ["status", `"TaskRunStatus"`],
  ["createdAt", "timestamp"],
  ["updatedAt", "timestamp"],
  ["queuedAt", "timestamp"],
  ["delayUntil", "timestamp"],
  ["ttl", "text"],
  ["isTest", "boolean"],
  ["payload", "text"],
  ["payloadType", "text"],
  ["metadata", "text"],
  ["metadataType", "text"],
  ["runTags", "text[]"],
  ["idempotencyKey", "text"],
  ["idempotencyKeyExpiresAt", "timestamp"],
  ["oneTimeUseToken", "text"],
  ["batchId", "text"],
  ["replayedFromTaskRunId", "text"],
  ["queue", "text"],
  ["concurrencyKey", "text"],
  ["maxAttempts", "int"],
  ["maxDurationInSeconds", "int"],
  ["ttlExpiresAt", "timestamp"],
  ["debounceKey", "text"],
  ["debounceUntil", "timestamp"],
  ["parentTaskRunId", "text"],
  ["rootTaskRunId", "text"],
  ["depth", "int"],
];

const COLUMN_LIST = COLUMNS.map(([name]) => `"${name}"`).join(", ");

/** One row; nothing on a conflict with a unique index (rowCount 0). */
export const INSERT_ONE_SQL = `INSERT INTO "TaskRun" (${COLUMN_LIST})
  VALUES (${COLUMNS.map(([, type], i) => `$${i + 1}::${type}`).join(", ")})
  ON CONFLICT DO NOTHING`;

/**
 * Many rows, one array per column. `runTags` travels as one array literal per row (unnest would
 * flatten a two-dimensional array), cast back per row.
 */
export const INSERT_MANY_SQL = `INSERT INTO "TaskRun" (${COLUMN_LIST})
  SELECT ${COLUMNS.map(([name, type]) => (type === "text[]" ? `v."${name}"::text[]` : `v."${name}"`)).join(", ")}
  FROM unnest(${COLUMNS.map(([, type], i) => `$${i + 1}::${type === "text[]" ? "text" : type}[]`).join(", ")})
    AS v(${COLUMN_LIST})`;

/** A JS value as the parameter of its column (timestamps as UTC without zone, as Prisma stores them). */
function param(value: NewRun[keyof NewRun]): unknown {
  if (value instanceof Date) return timestampParam(value);
  return value;
}

const rowParams = (run: NewRun) => COLUMNS.map(([name]) => param(run[name]));

/** Inserts one run with the prepared statement; false when a unique index already holds one of its keys. */
export async function insertRunPrepared(pool: pg.Pool, run: NewRun): Promise<boolean> {
  const result = await pool.query({ name: "trigger-insert-1", text: INSERT_ONE_SQL, values: rowParams(run) });
  return result.rowCount === 1;
}

/** The parameters of INSERT_MANY_SQL: one array per column. */
export function insertManyParams(runs: readonly NewRun[]): unknown[][] {
  return COLUMNS.map(([name, type]) =>
    runs.map((run) => (type === "text[]" ? postgresTextArray(run[name] as string[]) : param(run[name]))),
  );
}

export { rowParams as insertOneParams };

/** The TaskRun a new row reads back as: the inserted values, and the defaults of every other column. */
export function insertedTaskRun(run: NewRun): TaskRun {
  return {
    ...run,
    startedAt: null,
    expiredAt: null,
    completedAt: null,
    number: 0,
    usageDurationMs: 0,
    costInCents: 0,
    baseCostInCents: 0,
    output: null,
    outputType: "application/json",
    error: null,
    realtimeStreams: [],
    metadataVersion: 0,
    attemptCount: 0,
    retryOptions: null,
    nextAttemptAt: null,
    scheduleId: null,
  };
}
