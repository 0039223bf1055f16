/**
 * Exactly-once application (docs/decisions/092-write-pipeline.md, "Exactly once"): the
 * `WritePipelineCursor` row of a stream holds the id of the last entry applied and the fence of the
 * drain that owns the stream. Every batch is applied in one transaction that
 *
 * 1. locks the stream's cursor row and checks the fence: a drain that lost the stream (its lease ran
 *    out and another drain took the stream, raising the fence) commits nothing;
 * 2. skips entries at or below `lastId`: they were committed before, and only their XACK was lost
 *    (a crash between COMMIT and XACK);
 * 3. applies the rest and moves `lastId` to the highest id in the batch — in the same transaction.
 *
 * An owner reads its stream in id order (its claimed pending entries first, then new ones), so
 * "at or below lastId" is exactly "already applied".
 */
import type { ChangedRunRow } from "../realtime/native/runSignals.server";
import type pg from "pg";
import { compareStreamIds } from "./streamNames.server";

export interface StreamEntry {
  id: string;
  environmentId: string;
  items: unknown[];
}

export interface ApplyResult {
  /** Units whose effect was written: metadata operations, or log lines. */
  applied: number;
  /** Rows written (items ÷ rows is the coalescing ratio). */
  rows: number;
  /** Units that could not be applied, by reason (unknown run, completed run, too large…). */
  dropped: Record<string, number>;
  /** Runs whose row changed: their realtime signals follow the commit (docs/decisions/073-realtime-notifier-backend.md). */
  changedRuns?: ChangedRunRow[];
  /** Runs that got log lines (internal ids): their log feeds' signals follow the commit. */
  loggedRuns?: string[];
}

/** Applies entries of `stream` (its cursor name) inside the caller's transaction, one bulk statement per table. */
export type Applier = (client: pg.PoolClient, entries: StreamEntry[], stream: string) => Promise<ApplyResult>;

export type BatchOutcome = { kind: "committed"; result: ApplyResult; skipped: number } | { kind: "fenced" };

/** Takes a stream over: raises its fence (creating the row) and returns the new one. */
export async function raiseFence(pool: pg.Pool, cursor: string): Promise<string> {
  const { rows } = await pool.query<{ fence: string }>(
    `INSERT INTO "WritePipelineCursor" ("stream", "fence") VALUES ($1, 1)
     ON CONFLICT ("stream") DO UPDATE SET "fence" = "WritePipelineCursor"."fence" + 1, "updatedAt" = now()
     RETURNING "fence"`,
    [cursor],
  );
  return rows[0]!.fence;
}

export async function applyBatch(
  pool: pg.Pool,
  cursor: string,
  fence: string,
  entries: StreamEntry[],
  apply: Applier,
): Promise<BatchOutcome> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query("BEGIN");
    const { rows } = await client.query<{ lastId: string; fence: string }>(
      `SELECT "lastId", "fence" FROM "WritePipelineCursor" WHERE "stream" = $1 FOR UPDATE`,
      [cursor],
    );
    const row = rows[0];
    if (!row || row.fence !== fence) {
      await client.query("ROLLBACK");
      return { kind: "fenced" };
    }
    const fresh = entries.filter((entry) => compareStreamIds(entry.id, row.lastId) > 0);
    const result = fresh.length > 0 ? await apply(client, fresh, cursor) : { applied: 0, rows: 0, dropped: {} };
    if (fresh.length > 0) {
      const lastId = fresh.reduce((max, e) => (compareStreamIds(e.id, max) > 0 ? e.id : max), row.lastId);
      await client.query(`UPDATE "WritePipelineCursor" SET "lastId" = $2, "updatedAt" = now() WHERE "stream" = $1`, [
        cursor,
        lastId,
      ]);
    }
    await client.query("COMMIT");
    return { kind: "committed", result, skipped: entries.length - fresh.length };
  } catch (error) {
    await client.query("ROLLBACK").catch((rollback: Error) => (broken = rollback));
    throw error;
  } finally {
    client.release(broken);
  }
}
