/**
 * (5) Compaction, in-process on the SQLite store: one shape's log of single-row TaskRun-style update
 * transactions over a set of keys (as a busy run feed writes it), compacted once. Figures: log bytes
 * before/after, compaction speed in MB/s, beside the raw limit of reading the same rows back from the
 * same store (`SELECT … ORDER BY tx, op` over the shape's range, JSON parsed).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { snapshotEndMessage } from "../../packages/core/src/index.js";
import { SqliteShapeStorage } from "../../apps/shape-sync/src/shapes/sqlite-storage.js";
import type { PendingEntry } from "../../apps/shape-sync/src/shapes/storage.js";
import { compactShapeLog } from "../../apps/shape-sync/src/shapes/compaction.js";

export interface CompactionResult {
  messages: number;
  keys: number;
  bytesBefore: number;
  bytesAfter: number;
  folded: number;
  compactMBps: number;
  rawReadMBps: number;
}

export function benchCompaction(messages: number, keys: number): CompactionResult {
  const dir = mkdtempSync(join(tmpdir(), "shape-sync-bench-compact-"));
  const storage = new SqliteShapeStorage(dir);
  try {
    const shapeId = 1;
    storage.insertPendingShape({ id: shapeId, handle: "h", defKey: "k", def: "{}", requestKey: null });
    storage.completeShape(shapeId, '{"xmin":"1","xmax":"1","xip":[]}', false);
    storage.append([{ shapeId, tx: 0n, op: 0, json: JSON.stringify(snapshotEndMessage("1", "1", [])) }]);
    const entries: PendingEntry[] = [];
    for (let i = 0; i < messages; i++) {
      const tx = 1_000_000 + i;
      const id = `run_${i % keys}`;
      const message = {
        key: `"public"."TaskRun"/"${id}"`,
        value: {
          id,
          status: i % 7 === 0 ? "EXECUTING" : "COMPLETED_SUCCESSFULLY",
          updatedAt: `2026-11-29 08:${String(i % 60).padStart(2, "0")}:00.000`,
          metadata: `{"progress":${i % 100}}`,
          usageDurationMs: String(i),
        },
        headers: {
          operation: "update",
          relation: ["public", "TaskRun"],
          lsn: String(tx),
          op_position: 0,
          txids: [i],
          last: true,
        },
      };
      entries.push({ shapeId, tx: BigInt(tx), op: 0, json: JSON.stringify(message) });
    }
    storage.transaction(() => storage.append(entries));
    const upto = BigInt(1_000_000 + messages);

    const tr = performance.now();
    let rawBytes = 0;
    for (const r of storage.iterateRange(shapeId, 1n, upto)) {
      rawBytes += r.json.length;
      for (const m of r.json.split("\n")) JSON.parse(m);
    }
    const rawReadMBps = rawBytes / 1048576 / ((performance.now() - tr) / 1000);

    const tc = performance.now();
    const r = compactShapeLog(storage, shapeId, 0n, upto);
    const compactMBps = r.bytesBefore / 1048576 / ((performance.now() - tc) / 1000);
    return {
      messages,
      keys,
      bytesBefore: r.bytesBefore,
      bytesAfter: r.bytesAfter,
      folded: r.folded,
      compactMBps,
      rawReadMBps,
    };
  } finally {
    storage.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
