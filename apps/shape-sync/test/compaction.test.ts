/** The pure folding rule of shape-log compaction. */
import type { ChangeMessage } from "@runfeed/core";
import { describe, expect, it } from "vitest";
import { CompactionState, foldUpdateRuns, markTransactionEnds, type StoredRow } from "../src/shapes/compaction.js";
import { MemoryShapeStorage } from "../src/shapes/memory-storage.js";

const msg = (
  key: string,
  operation: "insert" | "update" | "delete",
  op: number,
  value: Record<string, string>,
  old?: Record<string, string>,
): ChangeMessage => ({
  key,
  value,
  ...(old ? { old_value: old } : {}),
  headers: { operation, op_position: op },
});
const row = (id: number, tx: number, ...messages: ChangeMessage[]): StoredRow => ({
  id,
  tx: BigInt(tx),
  bytes: 0,
  messages,
  changed: false,
});

describe("foldUpdateRuns", () => {
  it("folds consecutive updates of a key into the last one, later values winning and the earliest old_value kept", () => {
    const rows = [
      row(1, 10, msg("a", "update", 0, { id: "1", n: "1" }, { n: "0" }), msg("b", "update", 2, { id: "2", s: "x" })),
      row(2, 11, msg("a", "update", 0, { id: "1", n: "2", s: "y" }, { n: "1", s: "w" })),
    ];
    expect(foldUpdateRuns(rows)).toBe(1);
    expect(rows[0]!.messages[0]).toBeNull();
    expect(rows[0]!.messages[1]!.key).toBe("b");
    expect(rows[1]!.messages[0]).toEqual(msg("a", "update", 0, { id: "1", n: "2", s: "y" }, { n: "0", s: "w" }));
    expect(rows.map((r) => r.changed)).toEqual([true, true]);
  });

  it("never folds across an insert or a delete of the same key", () => {
    const rows = [
      row(1, 10, msg("a", "update", 0, { n: "1" })),
      row(2, 11, msg("a", "delete", 0, { id: "1" })),
      row(3, 12, msg("a", "insert", 0, { id: "1", n: "5" })),
      row(4, 13, msg("a", "update", 0, { n: "6" })),
      row(5, 14, msg("a", "update", 0, { n: "7" })),
    ];
    expect(foldUpdateRuns(rows)).toBe(1);
    expect(rows.map((r) => r.messages[0]?.headers.operation ?? null)).toEqual([
      "update",
      "delete",
      "insert",
      null,
      "update",
    ]);
  });

  it("marks the last survivor of each transaction, across the rows of a chunked transaction", () => {
    const rows = [
      row(1, 10, msg("a", "update", 0, { n: "1" }), msg("b", "update", 2, { n: "1" })),
      row(2, 10, msg("c", "update", 4, { n: "1" })),
    ];
    rows[1]!.messages[0] = null;
    markTransactionEnds(rows);
    expect(rows[0]!.messages[1]!.headers.last).toBe(true);
    expect(rows[0]!.messages[0]!.headers.last).toBeUndefined();
    expect(rows[0]!.changed).toBe(true);
  });
});

describe("CompactionState", () => {
  it("compacts up to the previous mark; passes cover the new segment until it adds up to the last full pass, then everything", () => {
    const storage = new MemoryShapeStorage();
    storage.insertPendingShape({ id: 1, handle: "h", defKey: "k", def: "{}", requestKey: null });
    storage.completeShape(1, '{"xmin":"1","xmax":"1","xip":[]}', false);
    const state = new CompactionState();
    const update = (tx: number, key: string) =>
      JSON.stringify({
        key,
        value: { id: key, n: String(tx) },
        headers: { operation: "update", op_position: 0, last: true },
      });
    const passes: Array<{ upto: bigint; full: boolean; folded: number }> = [];
    // Two keys updated alternately, one transaction each; threshold of 4 transactions' bytes.
    const bytes = update(100, "a").length + 1;
    for (let tx = 100; tx < 140; tx++) {
      const json = update(tx, tx % 2 ? "b" : "a");
      storage.append([{ shapeId: 1, tx: BigInt(tx), op: 0, json }]);
      const upto = state.grow(json.length + 1, BigInt(tx), 4 * bytes);
      if (upto !== undefined) {
        const r = state.run(storage, 1, upto);
        passes.push({ upto, full: r.full, folded: r.folded });
      }
    }
    // Marks at 103, 107, 111, …: the first crossing only sets the mark; every later one compacts up to the previous mark.
    expect(passes.map((p) => Number(p.upto))).toEqual([103, 107, 111, 115, 119, 123, 127, 131, 135]);
    // Full when the segments since the last full pass reach its size: a full pass leaves one update per
    // key (2 messages), so does a segment pass, so after one segment pass the next one is full again.
    expect(passes.map((p) => p.full)).toEqual([true, false, true, false, true, false, true, false, true]);
    // The compacted part holds one update per key; the newest transactions are as written.
    const left = [...storage.iterateRange(1, 1n, 1_000n)].map((r) => Number(r.tx));
    expect(left.filter((tx) => tx <= 135)).toHaveLength(2);
    expect(left.filter((tx) => tx > 135)).toEqual([136, 137, 138, 139]);
  });
});
