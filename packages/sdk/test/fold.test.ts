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

describe("RunRowFold with a limit (the environment-wide feed)", () => {
  it("keeps and emits only the newest `limit` rows by createdAt; a forgotten run stays forgotten", () => {
    const fold = new RunRowFold({ limit: 2 });
    const row = (id: string, createdAt: string, status = "PENDING") => insert(`k${id}`, { id, createdAt, status });
    expect(
      fold.apply([
        row("1", "2026-06-06T10:00:01.000"),
        row("3", "2026-06-06T10:00:03.000"),
        row("2", "2026-06-06T10:00:02.000"),
        upToDate,
      ]),
    ).toEqual([
      { id: "3", createdAt: "2026-06-06T10:00:03.000", status: "PENDING" },
      { id: "2", createdAt: "2026-06-06T10:00:02.000", status: "PENDING" },
    ]);
    expect(fold.size).toBe(2);
    // The forgotten run changes (a full row, log=full): still older than the kept two, not emitted.
    expect(
      fold.apply([update("k1", { id: "1", createdAt: "2026-06-06T10:00:01.000", status: "EXECUTING" }), upToDate]),
    ).toEqual([]);
    expect(fold.apply([row("4", "2026-06-06T10:00:04.000"), upToDate]).map((r) => r.id)).toEqual(["4"]);
    expect(fold.size).toBe(2);
  });
});
