/**
 * The ShapeStorage contract, run against both implementations: the SQLite store the server uses and
 * the in-memory one the unit tests use, so a unit test on memory says something about the server.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryShapeStorage } from "../src/shapes/memory-storage.js";
import { SqliteShapeStorage } from "../src/shapes/sqlite-storage.js";
import type { ShapeStorage } from "../src/shapes/storage.js";

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

const implementations: Array<[string, () => ShapeStorage]> = [
  [
    "SqliteShapeStorage",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "shape-storage-test-"));
      dirs.push(dir);
      return new SqliteShapeStorage(dir, 2);
    },
  ],
  ["MemoryShapeStorage", () => new MemoryShapeStorage()],
];

const shape = (id: number) => ({ id, handle: `h${id}`, defKey: `k${id}`, def: "{}", requestKey: null });
const rows = (it: Iterable<{ tx: bigint; op: number; json: string }>) => [...it].map((r) => [r.tx, r.op, r.json]);

describe.each(implementations)("%s", (_name, open) => {
  it("lists a shape once its snapshot is complete; dropIncomplete removes the others with their logs", () => {
    const storage = open();
    storage.insertPendingShape(shape(1));
    storage.append([{ shapeId: 1, tx: 0n, op: 0, json: '{"key":"a"}' }]);
    storage.completeShape(1, '{"xmin":"1","xmax":"2","xip":[]}', true);
    storage.insertPendingShape(shape(2));
    storage.append([
      { shapeId: 2, tx: 0n, op: 0, json: '{"key":"b"}' },
      { shapeId: 2, tx: 0n, op: 1, json: '{"key":"c"}' },
    ]);
    expect(storage.listShapes().map((s) => [s.id, s.filtering, s.snapshot])).toEqual([
      [1, true, '{"xmin":"1","xmax":"2","xip":[]}'],
    ]);
    expect(storage.nextShapeId()).toBe(3);
    expect(storage.dropIncomplete()).toBe(1);
    expect(rows(storage.iterate(2, 0n))).toEqual([]);
    expect(storage.dropIncomplete()).toBe(0);
    storage.setFiltering(1, false);
    expect(storage.listShapes()[0]!.filtering).toBe(false);
  });

  it("reads a log in (tx, op) order from a tx on, keeping all 64 bits of an LSN", () => {
    const storage = open();
    storage.insertPendingShape(shape(1));
    const big = (1n << 62n) + 7n; // not representable as a JS number
    storage.append([
      { shapeId: 1, tx: 0n, op: 0, json: "s0" },
      { shapeId: 1, tx: 0n, op: 1, json: "s1" },
      { shapeId: 1, tx: 500n, op: 2, json: "a2" },
      { shapeId: 1, tx: 500n, op: 6, json: "a6" },
      { shapeId: 1, tx: big, op: 0, json: "b0" },
      { shapeId: 1, tx: big + 1n, op: 4, json: "c4" },
    ]);
    expect(rows(storage.iterate(1, 1n))).toEqual([
      [500n, 2, "a2"],
      [500n, 6, "a6"],
      [big, 0, "b0"],
      [big + 1n, 4, "c4"],
    ]);
    expect(rows(storage.iterate(1, big))).toEqual([
      [big, 0, "b0"],
      [big + 1n, 4, "c4"],
    ]);
    expect(rows(storage.iterateRange(1, 1n, big))).toEqual([
      [500n, 2, "a2"],
      [500n, 6, "a6"],
      [big, 0, "b0"],
    ]);
    expect(storage.logEnds().get(1)).toEqual({ tx: big + 1n, op: 4, chunks: 2 });
  });

  it("rewrites and deletes rows by id (compaction), and deletes a shape with its log", () => {
    const storage = open();
    storage.insertPendingShape(shape(1));
    storage.insertPendingShape(shape(2));
    storage.append([
      { shapeId: 1, tx: 10n, op: 0, json: "x" },
      { shapeId: 1, tx: 10n, op: 2, json: "y" },
      { shapeId: 1, tx: 11n, op: 0, json: "z" },
      { shapeId: 2, tx: 10n, op: 0, json: "other" },
    ]);
    const [first, second] = [...storage.iterateRange(1, 10n, 10n)];
    storage.deleteRow(first!.id);
    storage.rewriteRow(second!.id, 4, "y'");
    expect(rows(storage.iterate(1, 0n))).toEqual([
      [10n, 4, "y'"],
      [11n, 0, "z"],
    ]);
    storage.deleteShape(1);
    expect(rows(storage.iterate(1, 0n))).toEqual([]);
    expect(rows(storage.iterate(2, 0n))).toEqual([[10n, 0, "other"]]);
    expect([...storage.logEnds().keys()]).toEqual([2]);
  });

  it("a transaction that throws leaves nothing behind; the applied LSN is kept until reset", () => {
    const storage = open();
    storage.insertPendingShape(shape(1));
    storage.setAppliedLsn(100n);
    expect(() =>
      storage.transaction(() => {
        storage.append([{ shapeId: 1, tx: 200n, op: 0, json: "lost" }]);
        storage.setAppliedLsn(200n);
        throw new Error("crash in the middle");
      }),
    ).toThrow("crash in the middle");
    expect(rows(storage.iterate(1, 0n))).toEqual([]);
    expect(storage.appliedLsn()).toBe(100n);
    storage.transaction(() => {
      storage.append([{ shapeId: 1, tx: 200n, op: 0, json: "kept" }]);
      storage.setAppliedLsn(200n);
    });
    expect(storage.appliedLsn()).toBe(200n);
    storage.reset();
    expect(storage.appliedLsn()).toBe(0n);
    expect(storage.listShapes()).toEqual([]);
    expect(rows(storage.iterate(1, 0n))).toEqual([]);
  });
});

describe("SqliteShapeStorage across a restart", () => {
  it("keeps complete shapes, their logs and the applied LSN; an interrupted snapshot is dropped", () => {
    const dir = mkdtempSync(join(tmpdir(), "shape-storage-test-"));
    dirs.push(dir);
    const before = new SqliteShapeStorage(dir, 2);
    before.insertPendingShape(shape(1));
    before.append([{ shapeId: 1, tx: 0n, op: 0, json: '{"key":"a"}' }]);
    before.completeShape(1, '{"xmin":"1","xmax":"2","xip":[]}', true);
    before.insertPendingShape(shape(2));
    before.append([{ shapeId: 2, tx: 0n, op: 0, json: '{"key":"b"}' }]);
    before.setAppliedLsn(42n);
    before.close();

    const after = new SqliteShapeStorage(dir, 2);
    expect(after.dropIncomplete()).toBe(1);
    expect(after.listShapes().map((s) => s.id)).toEqual([1]);
    expect(rows(after.iterate(1, 0n))).toEqual([[0n, 0, '{"key":"a"}']]);
    expect(after.appliedLsn()).toBe(42n);
    after.close();
  });
});
