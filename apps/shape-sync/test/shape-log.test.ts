/**
 * The shape layer without Postgres or a disk (MemoryShapeStorage): the change router with its match
 * index and snapshot filter, the log reader's offset rules (§4.1) and the compaction scheduler.
 */
import { formatOffset, offsetAt, parseOffset, type LogOffset } from "@runfeed/core";
import pino from "pino";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { ChangeRouter } from "../src/shapes/change-router.js";
import { CompactionScheduler } from "../src/shapes/compaction-scheduler.js";
import { CompactionState } from "../src/shapes/compaction.js";
import { compileShape } from "../src/shapes/definition.js";
import { ShapeLogReader } from "../src/shapes/log-reader.js";
import { MemoryShapeStorage } from "../src/shapes/memory-storage.js";
import type { ReplicatedTransaction, Shape } from "../src/shapes/shape.js";
import { loadWhereParser } from "../src/where/where-clause.js";
import { tableInfo } from "./tables.js";

const table = tableInfo(7, "items", [
  ["id", "int4"],
  ["title", "text"],
]);

const logger = pino({ level: "silent" });
const SNAPSHOT = { xmin: "100", xmax: "105", xip: ["102"] };
const at = (text: string): LogOffset => parseOffset(text)!;

function setup(options: { chunkBytes?: number; compactionThresholdBytes?: number } = {}) {
  const storage = new MemoryShapeStorage();
  const chunkBytes = options.chunkBytes ?? 10_000;
  const invalidated: Array<[number, string]> = [];
  const acknowledged: bigint[] = [];
  const compaction = new CompactionScheduler({
    storage,
    logger,
    thresholdBytes: options.compactionThresholdBytes ?? 0,
  });
  const router = new ChangeRouter({
    storage,
    chunkBytes,
    compaction,
    invalidate: (shape, reason) => {
      shape.state = "gone";
      router.untrack(shape);
      invalidated.push([shape.id, reason]);
    },
    onTableChanged: () => undefined,
    onAppliedLsn: (lsn) => acknowledged.push(lsn),
  });
  const reader = new ShapeLogReader(storage, chunkBytes);
  let nextId = 1;
  /** A shape as the catalog registers it: tracked, its snapshot chunks stored, then activated. */
  const addShape = (where: string | undefined, snapshotRows: string[][], activate = true): Shape => {
    const shape: Shape = {
      id: nextId++,
      handle: `h${nextId}`,
      compiled: compileShape({ schema: "public", table: "items", where, replica: "default", log: "full" }, table),
      state: "pending",
      latest: offsetAt(0n, 0),
      snapshotChunks: 0,
      filtering: true,
      buffer: [],
      listeners: new Set(),
      compaction: new CompactionState(),
    };
    storage.insertPendingShape({ id: shape.id, handle: shape.handle, defKey: "k", def: "{}", requestKey: null });
    router.track(shape);
    storage.append(snapshotRows.map((rows, op) => ({ shapeId: shape.id, tx: 0n, op, json: rows.join("\n") })));
    if (activate) router.activate(shape, SNAPSHOT, snapshotRows.length);
    return shape;
  };
  return { storage, router, reader, compaction, addShape, invalidated, acknowledged };
}

const update = (id: number, title: string) => ({
  oid: table.oid,
  kind: "update" as const,
  old: { id: String(id), title: "old" },
  new: { id: String(id), title },
});
const txn = (xid: number, lsn: number, changes: ReplicatedTransaction["changes"]): ReplicatedTransaction => ({
  xid,
  commitLsn: BigInt(lsn),
  endLsn: BigInt(lsn) + 8n,
  changes,
  truncated: [],
});
const keysOf = (items: string[]) => items.map((m) => JSON.parse(m).key ?? JSON.parse(m).headers.control);

beforeAll(() => loadWhereParser());

describe("ChangeRouter", () => {
  it("routes a change only to the shapes whose where it matches, ops 2k, the last marked, then acknowledges", () => {
    const { router, reader, addShape, acknowledged } = setup();
    const one = addShape("id = 1", [["s"]]);
    const two = addShape("id = 2", [["s"]]);
    const events: string[] = [];
    one.listeners.add((e) => events.push(e));
    router.applyTransaction(txn(200, 1000, [update(2, "x"), update(1, "a"), update(3, "z"), update(1, "b")]));
    const read = reader.read(one, at("0_0"));
    expect(read.items.map((m) => JSON.parse(m).headers)).toEqual([
      { operation: "update", relation: ["public", "items"], lsn: "1000", op_position: 2, txids: [200] },
      { operation: "update", relation: ["public", "items"], lsn: "1000", op_position: 6, txids: [200], last: true },
    ]);
    expect(formatOffset(read.end)).toBe("1000_6");
    expect(formatOffset(one.latest)).toBe("1000_6");
    expect(formatOffset(two.latest)).toBe("1000_0");
    expect(events).toEqual(["change"]);
    expect(router.appliedLsn).toBe(1000n);
    expect(router.changesApplied).toBe(4);
    expect(router.entriesWritten).toBe(3);
    expect(acknowledged).toEqual([1008n]);
    // A replay of what is already stored is acknowledged and not applied again.
    router.applyTransaction(txn(200, 1000, [update(1, "again")]));
    expect(reader.read(one, at("0_0")).items).toHaveLength(2);
    expect(acknowledged).toEqual([1008n, 1008n]);
  });

  it("buffers a pending shape's transactions and keeps only those its snapshot does not show (§9.2)", () => {
    const { router, reader, storage, addShape } = setup();
    const shape = addShape("id = 1", [["s"]], false);
    router.applyTransaction(txn(99, 500, [update(1, "before xmin: in the snapshot")]));
    router.applyTransaction(txn(102, 600, [update(1, "in progress at the snapshot: not in it")]));
    router.applyTransaction(txn(103, 700, [update(1, "committed before the snapshot: in it")]));
    expect(shape.buffer).toHaveLength(3);
    router.activate(shape, SNAPSHOT, 1);
    expect(shape.state).toBe("active");
    expect(shape.filtering).toBe(true);
    expect(reader.read(shape, at("0_0")).items.map((m) => JSON.parse(m).value.title)).toEqual([
      "in progress at the snapshot: not in it",
    ]);
    router.applyTransaction(txn(105, 800, [update(1, "after the snapshot")]));
    expect(shape.filtering).toBe(false);
    expect(storage.listShapes()[0]!.filtering).toBe(false);
    expect(formatOffset(shape.latest)).toBe("800_0");
  });

  it("a truncate invalidates the table's shapes", () => {
    const { router, addShape, invalidated } = setup();
    const shape = addShape(undefined, [["s"]]);
    router.applyTransaction({ ...txn(300, 900, []), truncated: [table.oid] });
    expect(invalidated).toEqual([[shape.id, "truncate"]]);
    expect(router.hasShapesOn(table.oid)).toBe(false);
  });
});

describe("ShapeLogReader (§4.1)", () => {
  it("serves snapshot chunks one by one, then whole transactions; L_0 reads as after transaction L", () => {
    const { router, reader, addShape } = setup({ chunkBytes: 150 });
    const shape = addShape(undefined, [['{"key":"a"}'], ['{"key":"b"}', '{"headers":{"control":"snapshot-end"}}']]);
    router.applyTransaction(txn(200, 1000, [update(1, "x"), update(2, "y")]));
    router.applyTransaction(txn(201, 2000, [update(3, "z")]));

    const first = reader.read(shape, at("-1"));
    expect([keysOf(first.items), formatOffset(first.end), first.reachedEnd]).toEqual([["a"], "0_0", false]);
    const second = reader.read(shape, first.end);
    expect([keysOf(second.items), formatOffset(second.end)]).toEqual([["b", "snapshot-end"], "0_1"]);
    // Past the threshold after the first transaction: the rest comes in the next read.
    const third = reader.read(shape, second.end);
    expect([third.items.length, formatOffset(third.end), third.reachedEnd]).toEqual([2, "1000_2", false]);
    const fourth = reader.read(shape, third.end);
    expect([keysOf(fourth.items), formatOffset(fourth.end), fourth.reachedEnd]).toEqual([
      ['"public"."items"/"3"'],
      "2000_0",
      true,
    ]);
    expect(reader.read(shape, at("1000_0")).items).toEqual(fourth.items);
    expect(reader.readAfter(shape, offsetAt(2000n, 0))).toEqual({
      items: [],
      end: offsetAt(2000n, 0),
      reachedEnd: true,
    });
  });
});

describe("CompactionScheduler", () => {
  it("compacts a shape's older log once enough bytes were replicated into it, counting runs and folds", async () => {
    const { router, reader, compaction, addShape } = setup({ compactionThresholdBytes: 600 });
    const shape = addShape("id = 1", [["s"]]);
    for (let i = 0; i < 20; i++) router.applyTransaction(txn(200 + i, 1000 + i, [update(1, `v${i}`)]));
    await vi.waitFor(() => expect(compaction.runs).toBeGreaterThan(0));
    expect(compaction.messagesFolded).toBeGreaterThan(0);
    const titles = reader.read(shape, at("0_0")).items.map((m) => JSON.parse(m).value.title);
    expect(titles.length).toBeLessThan(20);
    expect(titles.at(-1)).toBe("v19");
  });
});
