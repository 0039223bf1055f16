/**
 * Run logs on the wire: a run's log lines and events, stored append-only in "TaskRunLog" and read as a
 * shape on that table through the realtime routes (docs/decisions/090-run-logs.md). Named once here for
 * the webapp, the write pipeline and @runfeed/sdk. Pure: no I/O.
 *
 *   GET /realtime/v1/runs/:runId/logs        Electric shape of the run's log rows (read:runs scope)
 */

export const RUN_LOGS_TABLE = `public."TaskRunLog"`;
/** The path segment after `/realtime/v1/runs/:runId/`. */
export const RUN_LOGS_SEGMENT = "logs";

export const RUN_LOG_KINDS = ["log", "event"] as const;
export type RunLogKind = (typeof RUN_LOG_KINDS)[number];

/** The levels of Trigger.dev's task logger, lowest first. */
export const RUN_LOG_LEVELS = ["trace", "debug", "log", "info", "warn", "error"] as const;
export type RunLogLevel = (typeof RUN_LOG_LEVELS)[number];

/** The columns streamed to log subscribers, in order (`createdAt` is when it was stored). */
export const RUN_LOG_STREAM_COLUMNS = [
  "id",
  "runId",
  "kind",
  "level",
  "message",
  "attributes",
  "time",
  "seq",
  "createdAt",
] as const;
export type RunLogStreamColumn = (typeof RUN_LOG_STREAM_COLUMNS)[number];

/** Limits on one line, checked wherever lines are accepted (a longer one is a 400 naming it). */
export const RUN_LOG_LIMITS = {
  messageChars: 32 * 1024,
  /** Bytes of the attributes object as JSON. */
  attributesBytes: 64 * 1024,
} as const;

/** A log line as a reader sees it (the shape row, parsed). */
export interface RunLogLine {
  id: string;
  runId: string;
  kind: RunLogKind;
  level: RunLogLevel;
  message: string;
  attributes: Record<string, unknown>;
  time: Date;
  seq: number;
  createdAt: Date;
}

/** Orders lines as the table's index does: by time, then the writer's sequence, then id. */
export function compareRunLogLines(a: RunLogLine, b: RunLogLine): number {
  return a.time.getTime() - b.time.getTime() || a.seq - b.seq || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** `existing` (ordered, ids unique) with the new lines of `incoming` merged in order; a line seen before is dropped. */
export function mergeRunLogLines(existing: readonly RunLogLine[], incoming: readonly RunLogLine[]): RunLogLine[] {
  const ids = new Set(existing.map((line) => line.id));
  const fresh = incoming.filter((line) => !ids.has(line.id) && ids.add(line.id));
  if (fresh.length === 0) return existing as RunLogLine[];
  return [...existing, ...fresh].sort(compareRunLogLines);
}
