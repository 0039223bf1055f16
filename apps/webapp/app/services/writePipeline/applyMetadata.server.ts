/**
 * Applies a batch of buffered metadata items (docs/decisions/092-write-pipeline.md, "Apply"), inside
 * the drain's transaction:
 *
 * 1. one SELECT resolves every addressed run (friendly or internal id) to its row, environment,
 *    parent and root; an item for a run that does not exist or belongs to another environment is
 *    dropped (counted, logged);
 * 2. every target row (the runs and the parents/roots their items route to) is locked in id order —
 *    the order every other metadata writer locks in, so none of them can deadlock with this;
 * 3. each target's items are folded in stream order onto its current metadata: N increments of one
 *    key from N children become one new value, one row write (coalescing);
 * 4. one `UPDATE … FROM unnest(ids, data)` writes every changed row, bumping `metadataVersion`
 *    (so the direct path's remembered versions see the change) and `updatedAt` (what feeds see).
 *
 * The same rules as the direct PUT: a run completed more than RUN_UPDATABLE_WINDOW_MS ago is not
 * written; an item that would take a row past the size limit is dropped alone.
 */
import {
  applyMetadataOperations,
  metadataByteLength,
  parseMetadataPacket,
  type MetadataBatchItem,
  type MetadataObject,
  type MetadataOperation,
} from "@runfeed/core";
import { RUN_UPDATABLE_WINDOW_MS } from "../metadataRows.server";
import type { ChangedRunRow } from "../realtime/native/runSignals.server";
import type { Applier, ApplyResult } from "./cursor.server";

interface RunRef {
  id: string;
  friendlyId: string;
  runtimeEnvironmentId: string;
  parentTaskRunId: string | null;
  rootTaskRunId: string | null;
}

interface TargetRow {
  id: string;
  metadata: string | null;
  metadataType: string;
  completedAt: Date | null;
}

const RESOLVE_SQL = `SELECT "id", "friendlyId", "runtimeEnvironmentId", "parentTaskRunId", "rootTaskRunId"
  FROM "TaskRun" WHERE "id" = ANY($1::text[]) OR "friendlyId" = ANY($1::text[])`;
const LOCK_SQL = `SELECT "id", "metadata", "metadataType", "completedAt" FROM "TaskRun"
  WHERE "id" = ANY($1::text[]) ORDER BY "id" FOR UPDATE`;
const WRITE_SQL = `UPDATE "TaskRun" t SET "metadata" = v.data, "metadataType" = 'application/json',
    "metadataVersion" = t."metadataVersion" + 1, "updatedAt" = (clock_timestamp() AT TIME ZONE 'UTC')
  FROM unnest($1::text[], $2::text[]) AS v(id, data) WHERE t."id" = v.id
  RETURNING t."id", t."runtimeEnvironmentId", t."runTags", t."batchId"`;

export interface MetadataApplierOptions {
  maximumSize: number;
  now?: () => Date;
}

export function metadataApplier(options: MetadataApplierOptions): Applier {
  return async (client, entries) => {
    const result: ApplyResult = { applied: 0, rows: 0, dropped: {} };
    const drop = (reason: string, count: number) => {
      if (count > 0) result.dropped[reason] = (result.dropped[reason] ?? 0) + count;
    };
    const runIds = new Set<string>();
    for (const entry of entries) for (const item of entry.items as MetadataBatchItem[]) runIds.add(item.runId);
    const refs = await client.query<RunRef>({ name: "wp-metadata-resolve", text: RESOLVE_SQL, values: [[...runIds]] });
    const byParam = new Map<string, RunRef>();
    for (const ref of refs.rows) {
      byParam.set(ref.id, ref);
      byParam.set(ref.friendlyId, ref);
    }

    // Per target row, its operation groups in stream order.
    const groups = new Map<string, MetadataOperation[][]>();
    const route = (target: string, ops: MetadataOperation[] | undefined) => {
      if (!ops?.length) return;
      const list = groups.get(target);
      if (list) list.push(ops);
      else groups.set(target, [ops]);
    };
    for (const entry of entries) {
      for (const item of entry.items as MetadataBatchItem[]) {
        const ref = byParam.get(item.runId);
        if (!ref || ref.runtimeEnvironmentId !== entry.environmentId) {
          drop("unknown_run", countOps(item));
          continue;
        }
        route(ref.id, item.operations);
        route(ref.parentTaskRunId ?? ref.id, item.parentOperations);
        route(ref.rootTaskRunId ?? ref.id, item.rootOperations);
      }
    }
    if (groups.size === 0) return result;

    const locked = await client.query<TargetRow>({
      name: "wp-metadata-lock",
      text: LOCK_SQL,
      values: [[...groups.keys()]],
    });
    const cutoff = new Date((options.now ?? (() => new Date()))().getTime() - RUN_UPDATABLE_WINDOW_MS);
    const ids: string[] = [];
    const data: string[] = [];
    for (const row of locked.rows) {
      const rowGroups = groups.get(row.id)!;
      groups.delete(row.id);
      const ops = rowGroups.reduce((n, g) => n + g.length, 0);
      if (row.completedAt && row.completedAt < cutoff) {
        drop("run_completed", ops);
        continue;
      }
      const folded = fold(parseMetadataPacket(row.metadata, row.metadataType), rowGroups, options.maximumSize);
      drop("too_large", folded.droppedOps);
      result.applied += ops - folded.droppedOps;
      if (folded.data === undefined) continue;
      ids.push(row.id);
      data.push(folded.data);
    }
    // Rows deleted between the two statements.
    for (const leftover of groups.values())
      drop(
        "unknown_run",
        leftover.reduce((n, g) => n + g.length, 0),
      );
    if (ids.length > 0) {
      const written = await client.query<ChangedRunRow>({
        name: "wp-metadata-write",
        text: WRITE_SQL,
        values: [ids, data],
      });
      result.rows = ids.length;
      result.changedRuns = written.rows;
    }
    return result;
  };
}

/**
 * All groups at once, serialised once; only when that is over the limit, group by group, dropping
 * each group that would take the row over (as the direct path answers such a request 413 alone).
 */
function fold(current: MetadataObject, groups: MetadataOperation[][], maximumSize: number) {
  const all = applyMetadataOperations(current, groups.flat()).newMetadata;
  const serialised = JSON.stringify(all);
  if (metadataByteLength(serialised) <= maximumSize) return { data: serialised, droppedOps: 0 };
  let metadata = current;
  let data: string | undefined;
  let droppedOps = 0;
  for (const group of groups) {
    const next = applyMetadataOperations(metadata, group).newMetadata;
    const text = JSON.stringify(next);
    if (metadataByteLength(text) > maximumSize) {
      droppedOps += group.length;
      continue;
    }
    metadata = next;
    data = text;
  }
  return { data, droppedOps };
}

const countOps = (item: MetadataBatchItem) =>
  (item.operations?.length ?? 0) + (item.parentOperations?.length ?? 0) + (item.rootOperations?.length ?? 0);
