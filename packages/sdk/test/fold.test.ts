import { describe, expect, it } from "vitest";
import { RunRowFold } from "../src/fold.js";

const insert = (key: string, value: Record<string, unknown>) => ({ key, value, headers: { operation: "insert" } });
const update = (key: string, value: Record<string, unknown>) => ({ key, value, headers: { operation: "update" } });
const del = (key: string) => ({ key, value: {}, headers: { operation: "delete" } });
const upToDate = { headers: { control: "up-to-date" } };
const mustRefetch = { headers: { control: "must-refetch" } };

describe("RunRowFold (contract §1.5)", () => {
  it("holds changes back until a batch carries up-to-date", () => {
    const fold = new RunRowFold();
    expect(fold.apply([insert("k1", { id: "1", status: "PENDING" })])).toEqual([]);
    expect(fold.apply([insert("k2", { id: "2" }), upToDate])).toEqual([{ id: "1", status: "PENDING" }, { id: "2" }]);
    expect(fold.apply([upToDate])).toEqual([]);
  });

  it("merges partial updates into the known row and stores unknown-key updates as is", () => {
    const fold = new RunRowFold();
    fold.apply([insert("k1", { id: "1", status: "PENDING", payload: "p" }), upToDate]);
    expect(fold.apply([update("k1", { status: "EXECUTING" }), update("k9", { id: "9" }), upToDate])).toEqual([
      { id: "1", status: "EXECUTING", payload: "p" },
      { id: "9" },
    ]);
  });

  it("emits one merged row per key touched in the batch", () => {
    const fold = new RunRowFold();
    expect(fold.apply([insert("k1", { s: 1 }), update("k1", { s: 2 }), update("k1", { t: 3 }), upToDate])).toEqual([
      { s: 2, t: 3 },
    ]);
  });

  it("ignores deletes and clears everything on must-refetch", () => {
    const fold = new RunRowFold();
    fold.apply([insert("k1", { id: "1" }), upToDate]);
    expect(fold.apply([del("k1"), upToDate])).toEqual([]);
    expect(fold.size).toBe(1);
    expect(fold.apply([insert("k2", { id: "2" }), mustRefetch, insert("k3", { id: "3" }), upToDate])).toEqual([
      { id: "3" },
    ]);
    expect(fold.size).toBe(1);
  });
});
