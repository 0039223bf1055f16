/**
 * The run row as streamed to realtime subscribers (realtime-contract §5.1): the 26 columns, in order.
 * The webapp's realtime routes ask the shape server for exactly these, minus allowed skips.
 */
export const RUNS_TABLE = `public."TaskRun"`;

export const RUN_STREAM_COLUMNS = [
  "id",
  "taskIdentifier",
  "createdAt",
  "updatedAt",
  "startedAt",
  "delayUntil",
  "queuedAt",
  "expiredAt",
  "completedAt",
  "friendlyId",
  "number",
  "isTest",
  "status",
  "usageDurationMs",
  "costInCents",
  "baseCostInCents",
  "ttl",
  "payload",
  "payloadType",
  "metadata",
  "metadataType",
  "output",
  "outputType",
  "runTags",
  "error",
  "realtimeStreams",
] as const;

export type RunStreamColumn = (typeof RUN_STREAM_COLUMNS)[number];

/**
 * Columns never skipped: the SDK requires them (contract §3.1, checklist #28).
 * `updatedAt` is not reserved upstream, but skipping it breaks the SDK's required date.
 */
export const RESERVED_RUN_COLUMNS: ReadonlySet<RunStreamColumn> = new Set([
  "id",
  "taskIdentifier",
  "friendlyId",
  "status",
  "createdAt",
  "updatedAt",
]);

/** The streamed columns minus the allowed skips; unknown or reserved names in `skip` are ignored. */
export function runColumnsWithout(skip: Iterable<string>): RunStreamColumn[] {
  const skipped = new Set<string>();
  for (const name of skip) {
    const trimmed = name.trim();
    if (trimmed && !RESERVED_RUN_COLUMNS.has(trimmed as RunStreamColumn)) skipped.add(trimmed);
  }
  return RUN_STREAM_COLUMNS.filter((column) => !skipped.has(column));
}

/** `"a","b"` — the quoted, comma-joined form of the `columns` parameter. */
export function quoteColumns(columns: readonly string[]): string {
  return columns.map((c) => `"${c.replaceAll('"', '""')}"`).join(",");
}
