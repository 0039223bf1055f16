/**
 * ShapeStorage in memory, for unit tests of the shape layer without a disk: the same contract as
 * SqliteShapeStorage (test/storage.test.ts runs both), nothing survives the process.
 */
import type { LogEnd, LogRow, PendingEntry, ShapeStorage, StoredShape } from "./storage.js";

type MemoryRow = LogRow & { id: number; shapeId: number };

interface State {
  appliedLsn: bigint;
  shapes: Map<number, StoredShape & { complete: boolean }>;
  logs: Map<number, MemoryRow[]>;
  rowsById: Map<number, MemoryRow>;
  nextRowId: number;
}

const emptyState = (): State => ({
  appliedLsn: 0n,
  shapes: new Map(),
  logs: new Map(),
  rowsById: new Map(),
  nextRowId: 1,
});

/** Log order: (tx, op, row id), as SQLite's `ORDER BY tx, op, id`. */
const logOrder = (a: MemoryRow, b: MemoryRow) =>
  a.tx !== b.tx ? (a.tx < b.tx ? -1 : 1) : a.op !== b.op ? a.op - b.op : a.id - b.id;

function copyState(s: State): State {
  const rowsById = new Map<number, MemoryRow>();
  const logs = new Map<number, MemoryRow[]>();
  for (const [shapeId, rows] of s.logs) {
    const copies = rows.map((r) => ({ ...r }));
    for (const r of copies) rowsById.set(r.id, r);
    logs.set(shapeId, copies);
  }
  const shapes = new Map([...s.shapes].map(([id, shape]) => [id, { ...shape }]));
  return { appliedLsn: s.appliedLsn, shapes, logs, rowsById, nextRowId: s.nextRowId };
}

export class MemoryShapeStorage implements ShapeStorage {
  private state: State = emptyState();

  appliedLsn(): bigint {
    return this.state.appliedLsn;
  }

  setAppliedLsn(lsn: bigint): void {
    this.state.appliedLsn = lsn;
  }

  nextShapeId(): number {
    return Math.max(0, ...this.state.shapes.keys()) + 1;
  }

  listShapes(): StoredShape[] {
    return [...this.state.shapes.values()]
      .filter((s) => s.complete)
      .sort((a, b) => a.id - b.id)
      .map(({ complete: _, ...shape }) => shape);
  }

  insertPendingShape(s: Omit<StoredShape, "snapshot" | "filtering">): void {
    if (this.state.shapes.has(s.id)) throw new Error(`shape ${s.id} exists`);
    this.state.shapes.set(s.id, { ...s, snapshot: null, filtering: true, complete: false });
  }

  completeShape(id: number, snapshot: string, filtering: boolean): void {
    const shape = this.state.shapes.get(id);
    if (shape) Object.assign(shape, { snapshot, filtering, complete: true });
  }

  dropIncomplete(): number {
    const ids = [...this.state.shapes.values()].filter((s) => !s.complete).map((s) => s.id);
    for (const id of ids) this.deleteShape(id);
    return ids.length;
  }

  setFiltering(id: number, filtering: boolean): void {
    const shape = this.state.shapes.get(id);
    if (shape) shape.filtering = filtering;
  }

  deleteShape(id: number): void {
    this.state.shapes.delete(id);
    for (const r of this.state.logs.get(id) ?? []) this.state.rowsById.delete(r.id);
    this.state.logs.delete(id);
  }

  logEnds(): Map<number, LogEnd> {
    const out = new Map<number, LogEnd>();
    for (const [shapeId, rows] of this.state.logs) {
      const last = rows.at(-1);
      if (!last) continue;
      const chunks = rows.filter((r) => r.tx === 0n).reduce((n, r) => Math.max(n, r.op + 1), 0);
      out.set(shapeId, { tx: last.tx, op: last.op, chunks });
    }
    return out;
  }

  append(entries: ReadonlyArray<PendingEntry>): void {
    for (const { shapeId, tx, op, json } of entries) {
      const row: MemoryRow = { id: this.state.nextRowId++, shapeId, tx, op, json };
      let rows = this.state.logs.get(shapeId);
      if (!rows) this.state.logs.set(shapeId, (rows = []));
      const last = rows.at(-1);
      rows.push(row);
      if (last && logOrder(last, row) > 0) rows.sort(logOrder);
      this.state.rowsById.set(row.id, row);
    }
  }

  *iterate(shapeId: number, fromTx: bigint): IterableIterator<LogRow> {
    for (const r of this.rowsOf(shapeId)) if (r.tx >= fromTx) yield { tx: r.tx, op: r.op, json: r.json };
  }

  *iterateRange(shapeId: number, fromTx: bigint, toTx: bigint): IterableIterator<LogRow & { id: number }> {
    for (const r of this.rowsOf(shapeId))
      if (r.tx >= fromTx && r.tx <= toTx) yield { id: r.id, tx: r.tx, op: r.op, json: r.json };
  }

  deleteRow(id: number): void {
    const row = this.state.rowsById.get(id);
    if (!row) return;
    this.state.rowsById.delete(id);
    const rows = this.state.logs.get(row.shapeId)!;
    rows.splice(rows.indexOf(row), 1);
  }

  rewriteRow(id: number, op: number, json: string): void {
    const row = this.state.rowsById.get(id);
    if (!row) return;
    Object.assign(row, { op, json });
    this.state.logs.get(row.shapeId)!.sort(logOrder);
  }

  /** Atomic by copy: the state before `fn` comes back if it throws (nested calls act as savepoints). */
  transaction<T>(fn: () => T): T {
    const before = copyState(this.state);
    try {
      return fn();
    } catch (e) {
      this.state = before;
      throw e;
    }
  }

  reset(): void {
    this.state = emptyState();
  }

  close(): void {}

  /** A snapshot of the rows, so iteration is not disturbed by writes made while iterating (as in SQLite). */
  private rowsOf(shapeId: number): MemoryRow[] {
    return [...(this.state.logs.get(shapeId) ?? [])];
  }
}
