/**
 * Key-based compaction of a shape's replicated log (the same rule as Electric's file storage):
 * in the older part of the log, each run of consecutive updates to one key becomes one update
 * at the position of the run's last update, values merged (later wins, `old_value` keeps the
 * earliest). Inserts and deletes are kept, so a run never crosses them; snapshot chunks (tx 0)
 * and the newest part of the log are never touched.
 *
 * Offsets stay valid: every surviving message keeps its (tx, op), and a stored row keeps its
 * messages, keyed by its last survivor. A client resuming inside the compacted range sees every
 * later change, some earlier updates folded into a later one (applying them twice is harmless).
 */
import type { ChangeMessage } from "@runfeed/core";
import type { ShapeStorage } from "./storage.js";

export interface StoredRow {
  id: number;
  tx: bigint;
  bytes: number;
  messages: Array<ChangeMessage | null>;
  changed: boolean;
}

function mergeUpdates(earlier: ChangeMessage, later: ChangeMessage): ChangeMessage {
  const merged: ChangeMessage = { key: later.key, value: { ...earlier.value, ...later.value }, headers: later.headers };
  if (earlier.old_value || later.old_value) merged.old_value = { ...later.old_value, ...earlier.old_value };
  return merged;
}

/**
 * Folds update runs across the given rows, in log order, in place: a folded update becomes null
 * in its row and the run's merged update replaces the run's last one.
 */
export function foldUpdateRuns(rows: StoredRow[]): number {
  const openRun = new Map<string, { row: StoredRow; index: number }>();
  let folded = 0;
  for (const row of rows) {
    row.messages.forEach((msg, index) => {
      if (!msg) return;
      if (msg.headers.operation !== "update") {
        openRun.delete(msg.key);
        return;
      }
      const previous = openRun.get(msg.key);
      if (previous) {
        const earlier = previous.row.messages[previous.index]!;
        previous.row.messages[previous.index] = null;
        previous.row.changed = true;
        row.messages[index] = mergeUpdates(earlier, msg);
        row.changed = true;
        folded++;
      }
      openRun.set(msg.key, { row, index });
    });
  }
  return folded;
}

export interface CompactionResult {
  /** Messages folded into a later update. */
  folded: number;
  rowsDeleted: number;
  bytesBefore: number;
  bytesAfter: number;
}

/**
 * Compacts the replicated entries of one shape with afterTx < tx ≤ uptoTx (afterTx ≥ 0: snapshot
 * chunks are never touched), atomically. Each transaction's last surviving message carries
 * `last: true`, as it did before.
 */
export function compactShapeLog(
  storage: ShapeStorage,
  shapeId: number,
  afterTx: bigint,
  uptoTx: bigint,
): CompactionResult {
  return storage.transaction(() => {
    const rows: StoredRow[] = [];
    for (const r of storage.iterateRange(shapeId, afterTx + 1n, uptoTx))
      rows.push({
        id: r.id,
        tx: r.tx,
        bytes: r.json.length,
        messages: r.json.split("\n").map((m) => JSON.parse(m) as ChangeMessage),
        changed: false,
      });
    const folded = foldUpdateRuns(rows);
    markTransactionEnds(rows);
    let rowsDeleted = 0;
    let bytesBefore = 0;
    let bytesAfter = 0;
    for (const row of rows) {
      bytesBefore += row.bytes;
      if (!row.changed) {
        bytesAfter += row.bytes;
        continue;
      }
      const survivors = row.messages.filter((m): m is ChangeMessage => m !== null);
      if (survivors.length === 0) {
        storage.deleteRow(row.id);
        rowsDeleted++;
        continue;
      }
      const json = survivors.map((m) => JSON.stringify(m)).join("\n");
      storage.rewriteRow(row.id, survivors[survivors.length - 1]!.headers.op_position!, json);
      bytesAfter += json.length;
    }
    return { folded, rowsDeleted, bytesBefore, bytesAfter };
  });
}

/** The final survivor of each transaction carries `last: true` (its row is rewritten when it did not). */
export function markTransactionEnds(rows: StoredRow[]): void {
  for (let i = 0; i < rows.length; i++) {
    if (i + 1 < rows.length && rows[i + 1]!.tx === rows[i]!.tx) continue;
    for (let j = i; j >= 0 && rows[j]!.tx === rows[i]!.tx; j--) {
      const messages = rows[j]!.messages;
      let k = messages.length - 1;
      while (k >= 0 && messages[k] === null) k--;
      if (k < 0) continue;
      if (!messages[k]!.headers.last) {
        messages[k]!.headers.last = true;
        rows[j]!.changed = true;
      }
      break;
    }
  }
}

/**
 * One shape's compaction bookkeeping (in memory; after a restart it starts as "nothing compacted").
 * Replicated bytes are counted since the *mark*; crossing the threshold compacts everything up to
 * the previous mark, so the newest threshold's worth of the log is never touched. A pass covers only
 * the segment written since the last pass, or the whole older log once the segments compacted since
 * the last full pass add up to its size: runs spanning segments still fold, and each byte is re-read
 * a logarithmic number of times however long the log grows.
 */
export class CompactionState {
  private bytesSinceMark = 0;
  private compactedUpto = 0n;
  private fullBytes = 0;
  private sinceFull = 0;

  /** `mark`: the latest stored transaction when the shape is loaded (0 for a new shape). */
  constructor(private mark = 0n) {}

  /** Counts appended bytes; returns the tx to compact up to when the threshold is crossed. */
  grow(bytes: number, tx: bigint, threshold: number): bigint | undefined {
    this.bytesSinceMark += bytes;
    if (threshold <= 0 || this.bytesSinceMark < threshold) return undefined;
    const upto = this.mark;
    this.mark = tx;
    this.bytesSinceMark = 0;
    return upto > this.compactedUpto ? upto : undefined;
  }

  run(storage: ShapeStorage, shapeId: number, uptoTx: bigint): CompactionResult & { full: boolean } {
    const full = this.sinceFull >= this.fullBytes;
    const r = compactShapeLog(storage, shapeId, full ? 0n : this.compactedUpto, uptoTx);
    if (full) {
      this.fullBytes = r.bytesAfter;
      this.sinceFull = 0;
    } else this.sinceFull += r.bytesAfter;
    this.compactedUpto = uptoTx;
    return { ...r, full };
  }
}
