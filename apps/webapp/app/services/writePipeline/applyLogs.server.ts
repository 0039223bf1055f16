/**
 * Applies a batch of buffered run log lines and events (docs/decisions/092-write-pipeline.md, "Apply")
 * inside the drain's transaction: one SELECT resolves the addressed runs (friendly or internal id,
 * same environment), then one multi-row `INSERT … SELECT FROM unnest(…)` appends every line.
 *
 * A line's id is its place in the stream — `<stream>:<entry id>:<index>` — so even outside the
 * cursor's guarantee a re-applied line conflicts on the primary key instead of appearing twice
 * (`ON CONFLICT DO NOTHING`). `seq` is its index in the request (set by the route): lines of one
 * millisecond keep the order they were sent in. Lines for a run that does not exist (or is another
 * environment's) are dropped and counted. Text Postgres would refuse (NUL, lone surrogates) is made
 * storable as appendRunLogs does, so one such line can never stop its stream.
 */
import type { LogBatchItem } from "@runfeed/core";
import { storableText, storableValue } from "../runLogs.server";
import { streamIdTime } from "./streamNames.server";
import type { Applier, ApplyResult } from "./cursor.server";

const RESOLVE_SQL = `SELECT "id", "friendlyId", "runtimeEnvironmentId" FROM "TaskRun"
  WHERE "id" = ANY($1::text[]) OR "friendlyId" = ANY($1::text[])`;
const INSERT_SQL = `INSERT INTO "TaskRunLog"
    ("id", "runId", "runtimeEnvironmentId", "kind", "level", "message", "attributes", "time", "seq")
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
    $8::timestamp[], $9::int[])
  ON CONFLICT ("id") DO NOTHING`;

export function logApplier(): Applier {
  return async (client, entries, stream) => {
    const result: ApplyResult = { applied: 0, rows: 0, dropped: {} };
    const runIds = new Set<string>();
    for (const entry of entries) for (const item of entry.items as LogBatchItem[]) runIds.add(item.runId);
    const refs = await client.query<{ id: string; friendlyId: string; runtimeEnvironmentId: string }>({
      name: "wp-logs-resolve",
      text: RESOLVE_SQL,
      values: [[...runIds]],
    });
    const byParam = new Map<string, { id: string; runtimeEnvironmentId: string }>();
    for (const ref of refs.rows) {
      byParam.set(ref.id, ref);
      byParam.set(ref.friendlyId, ref);
    }
    const columns: unknown[][] = Array.from({ length: 9 }, () => []);
    const logged = new Set<string>();
    for (const entry of entries) {
      const acceptedAt = new Date(streamIdTime(entry.id)).toISOString();
      (entry.items as LogBatchItem[]).forEach((item, index) => {
        const ref = byParam.get(item.runId);
        if (!ref || ref.runtimeEnvironmentId !== entry.environmentId) {
          result.dropped.unknown_run = (result.dropped.unknown_run ?? 0) + 1;
          return;
        }
        const row = [
          `${stream}:${entry.id}:${index}`,
          ref.id,
          ref.runtimeEnvironmentId,
          item.kind ?? "log",
          item.level ?? "info",
          storableText(item.message),
          JSON.stringify(storableValue(item.attributes ?? {})),
          item.time ? new Date(item.time).toISOString() : acceptedAt,
          (item as LogBatchItem & { seq?: number }).seq ?? index,
        ];
        row.forEach((value, i) => columns[i]!.push(value));
        logged.add(ref.id);
      });
    }
    if (columns[0]!.length === 0) return result;
    const inserted = await client.query({ name: "wp-logs-insert", text: INSERT_SQL, values: columns });
    result.applied = columns[0]!.length;
    result.rows = inserted.rowCount ?? 0;
    result.loggedRuns = [...logged];
    return result;
  };
}
