/** The pure folding rule of shape-log compaction. */
import { describe, expect, it } from "vitest";
import { foldUpdateRuns, markTransactionEnds, type LogMessage, type StoredRow } from "../src/shapes/compaction.js";

const msg = (key: string, operation: "insert" | "update" | "delete", op: number, value: Record<string, string>, old?: Record<string, string>): LogMessage => ({
  key,
  value,
  ...(old ? { old_value: old } : {}),
  headers: { operation, op_position: op },
});
const row = (id: number, tx: number, ...messages: LogMessage[]): StoredRow => ({ id, tx, bytes: 0, messages, changed: false });

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
    expect(rows.map((r) => r.messages[0]?.headers.operation ?? null)).toEqual(["update", "delete", "insert", null, "update"]);
  });

  it("marks the last survivor of each transaction, across the rows of a chunked transaction", () => {
    const rows = [row(1, 10, msg("a", "update", 0, { n: "1" }), msg("b", "update", 2, { n: "1" })), row(2, 10, msg("c", "update", 4, { n: "1" }))];
    rows[1]!.messages[0] = null;
    markTransactionEnds(rows);
    expect(rows[0]!.messages[1]!.headers.last).toBe(true);
    expect(rows[0]!.messages[0]!.headers.last).toBeUndefined();
    expect(rows[0]!.changed).toBe(true);
  });
});
