/**
 * The set of live shapes: creation (publication → register → snapshot → finalize), the matching
 * index, applying replicated transactions to shape logs (durably, then acknowledged), reading log
 * ranges in chunks, invalidation (409) and restart recovery.
 */
import { createHash } from "node:crypto";
import { offsetAt, type ChangeMessage, type LogOffset, type OffsetAt } from "@runfeed/core";
import type pg from "pg";
import type { Logger } from "pino";
import {
  compileShape,
  convertChange,
  typesFor,
  type ChangeInput,
  type CompiledShape,
  type ShapeDefinition,
} from "./definition.js";
import { takeSnapshot, XidFilter, type SnapshotInfo } from "./snapshot.js";
import type { PendingEntry, ShapeStorage } from "./storage.js";
import { CompactionState } from "./compaction.js";
import type { PublishedTables } from "../replication/published-tables.js";
import { MatchIndex } from "../where/match-index.js";
import { relationSignature, type TableInfo } from "../pg/catalog.js";
import { SKIPPED, type RelationMessage } from "../replication/pgoutput.js";

export type ShapeState = "pending" | "active" | "gone";

export interface Shape {
  id: number;
  handle: string;
  compiled: CompiledShape;
  state: ShapeState;
  /** The end of the last stored row: `0_(chunks-1)` right after the snapshot, then `<lsn>_<op>`. */
  latest: OffsetAt;
  /** Number of snapshot chunks (offsets 0_0 … 0_(n-1)). */
  snapshotChunks: number;
  filter?: XidFilter;
  filtering: boolean;
  buffer?: Array<{ xid: number; tx: bigint; entries: ChangeMessage[] }>;
  ready?: Promise<void>;
  listeners: Set<(event: "change" | "gone") => void>;
  compaction: CompactionState;
}

export interface ReplicatedTransaction {
  xid: number;
  commitLsn: bigint;
  endLsn: bigint;
  changes: Array<ChangeInput & { oid: number }>;
  truncated: number[];
}

export interface ReadResult {
  items: string[];
  end: OffsetAt;
  /** True when the end is the shape's latest offset. */
  reachedEnd: boolean;
}

export interface RegistryDeps {
  storage: ShapeStorage;
  pool: pg.Pool;
  /** Tables in the publication, counted per shape (acquired at creation, retained at recovery, released when gone). */
  tables: Pick<PublishedTables, "acquire" | "retain" | "release">;
  chunkBytes: number;
  /** Replicated bytes per shape between compactions; 0 disables compaction. */
  compactionThresholdBytes: number;
  logger: Logger;
  onAppliedLsn: (lsn: bigint) => void;
}

function hintType(table: TableInfo, column: string) {
  return typesFor(table).get(column);
}

export class ShapeGoneError extends Error {
  override name = "ShapeGoneError";
}

export class ShapeRegistry {
  private readonly byHandle = new Map<string, Shape>();
  private readonly byKey = new Map<string, Shape>();
  private readonly byId = new Map<number, Shape>();
  private readonly creating = new Map<string, Promise<Shape>>();
  readonly index = new MatchIndex<Shape>();
  private nextId: number;
  private handleCounter = 0;
  /** Highest commit LSN fully applied (stored) — also the dedupe floor after restart. */
  appliedLsn: bigint;
  /** Highest LSN known processed (commit or idle keepalive) — `global_last_seen_lsn`. */
  globalLsn: bigint;
  changesApplied = 0;
  entriesWritten = 0;
  compactions = 0;
  messagesFolded = 0;
  private readonly compactQueue = new Map<Shape, bigint>();
  private compacting = false;
  readonly tableListeners = new Set<(oid: number) => void>();

  constructor(private readonly deps: RegistryDeps) {
    this.nextId = deps.storage.nextShapeId();
    this.appliedLsn = deps.storage.appliedLsn();
    this.globalLsn = this.appliedLsn;
  }

  get size(): number {
    return this.byId.size;
  }

  getByHandle(handle: string): Shape | undefined {
    return this.byHandle.get(handle);
  }

  getByKey(key: string): Shape | undefined {
    return this.byKey.get(key);
  }

  /** Returns the ready shape for this definition, creating it (with its snapshot) if needed. */
  async getOrCreate(compiled: CompiledShape): Promise<Shape> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = this.byKey.get(compiled.key);
      if (existing && existing.state === "active") return existing;
      if (existing && existing.state === "pending") {
        await existing.ready;
        if ((existing.state as ShapeState) === "active") return existing;
        continue;
      }
      let p = this.creating.get(compiled.key);
      if (!p) {
        p = this.create(compiled).finally(() => this.creating.delete(compiled.key));
        this.creating.set(compiled.key, p);
      }
      try {
        return await p;
      } catch (e) {
        if (!(e instanceof ShapeGoneError)) throw e;
      }
    }
    throw new ShapeGoneError("shape was invalidated repeatedly while being created");
  }

  private newHandle(key: string): string {
    const hash = parseInt(createHash("sha1").update(key).digest("hex").slice(0, 7), 16);
    const micros = Date.now() * 1000 + (this.handleCounter++ % 1000);
    return `${hash}-${micros}`;
  }

  private register(shape: Shape): void {
    this.byHandle.set(shape.handle, shape);
    this.byKey.set(shape.compiled.key, shape);
    this.byId.set(shape.id, shape);
    const hint = shape.compiled.where?.hint;
    const type = hint ? hintType(shape.compiled.table, hint.column) : undefined;
    this.index.add(shape.compiled.table.oid, shape, hint, type);
  }

  private unregister(shape: Shape): void {
    this.byHandle.delete(shape.handle);
    if (this.byKey.get(shape.compiled.key) === shape) this.byKey.delete(shape.compiled.key);
    this.byId.delete(shape.id);
    this.index.remove(shape);
    this.deps.tables.release(shape.compiled.table.schema, shape.compiled.table.table);
  }

  private async create(compiled: CompiledShape): Promise<Shape> {
    await this.deps.tables.acquire(compiled.table.schema, compiled.table.table);
    const shape: Shape = {
      id: this.nextId++,
      handle: this.newHandle(compiled.key),
      compiled,
      state: "pending",
      latest: offsetAt(0n, 0),
      snapshotChunks: 0,
      filtering: true,
      buffer: [],
      listeners: new Set(),
      compaction: new CompactionState(),
    };
    let resolveReady!: () => void;
    shape.ready = new Promise<void>((r) => (resolveReady = r));
    this.register(shape);
    const storage = this.deps.storage;
    try {
      // Stored as pending first: snapshot chunks go to disk as they arrive (memory holds one chunk), and
      // a crash before `finalize` leaves a shape that recovery drops with its partial log.
      storage.insertPendingShape({
        id: shape.id,
        handle: shape.handle,
        defKey: compiled.key,
        def: JSON.stringify(compiled.def),
        requestKey: compiled.requestKey ?? null,
      });
      const snap = await takeSnapshot(this.deps.pool, compiled, this.deps.chunkBytes, (index, chunk) => {
        if (shape.state === "gone") throw new ShapeGoneError("shape invalidated during its snapshot");
        storage.append([{ shapeId: shape.id, tx: 0n, op: index, json: chunk }]);
      });
      if (shape.state === "gone") throw new ShapeGoneError("shape invalidated during its snapshot");
      this.finalize(shape, snap, snap.chunks);
      this.deps.logger.debug(
        { handle: shape.handle, table: `${compiled.table.schema}.${compiled.table.table}`, chunks: snap.chunks },
        "shape created",
      );
      return shape;
    } catch (e) {
      if (shape.state !== "gone") {
        shape.state = "gone";
        this.unregister(shape);
      }
      storage.deleteShape(shape.id);
      throw e;
    } finally {
      resolveReady();
    }
  }

  /** Synchronous: the stored snapshot + buffered transactions become the shape's durable log, atomically. */
  private finalize(shape: Shape, info: SnapshotInfo, chunks: number): void {
    const filter = new XidFilter(info);
    shape.filter = filter;
    const entries: PendingEntry[] = [];
    shape.snapshotChunks = chunks;
    shape.latest = offsetAt(0n, chunks - 1);
    for (const txn of shape.buffer ?? []) {
      if (shape.filtering) {
        if (filter.visible(txn.xid)) continue;
        if (filter.afterSnapshot(txn.xid)) shape.filtering = false;
      }
      this.pushGroups(entries, shape.id, txn.tx, txn.entries);
      shape.latest = offsetAt(txn.tx, txn.entries[txn.entries.length - 1]!.headers.op_position!);
    }
    shape.buffer = undefined;
    this.deps.storage.transaction(() => {
      this.deps.storage.completeShape(shape.id, JSON.stringify(info), shape.filtering);
      this.deps.storage.append(entries);
      // Everything processed so far is now reflected in this shape's log: a replay after a crash must
      // not re-apply the buffered transactions just written.
      if (this.appliedLsn > 0n) this.deps.storage.setAppliedLsn(this.appliedLsn);
    });
    shape.state = "active";
  }

  /** Applies one committed transaction: match, convert, store durably, then notify and acknowledge. */
  applyTransaction(txn: ReplicatedTransaction): void {
    if (txn.commitLsn <= this.appliedLsn) {
      this.deps.onAppliedLsn(txn.endLsn);
      return;
    }
    for (const oid of txn.truncated) for (const s of [...this.index.shapesOfTable(oid)]) this.invalidate(s, "truncate");
    const tx = txn.commitLsn;
    const lsn = tx.toString();
    const perShape = new Map<Shape, ChangeMessage[]>();
    const candidates = new Set<Shape>();
    const rows: Array<ChangeInput["old"]> = [undefined, undefined];
    txn.changes.forEach((change, k) => {
      if (change.old === SKIPPED || change.new === SKIPPED) return; // decoded before any shape used the table
      candidates.clear();
      rows[0] = change.old;
      rows[1] = change.new;
      this.index.candidates(change.oid, rows, candidates);
      for (const s of candidates) {
        if (s.state === "gone") continue;
        const msgs = convertChange(s.compiled, change, 2 * k, lsn, txn.xid);
        if (msgs.length === 0) continue;
        const list = perShape.get(s);
        if (list) list.push(...msgs);
        else perShape.set(s, msgs);
      }
    });
    this.changesApplied += txn.changes.length;
    const entries: PendingEntry[] = [];
    const touched: Shape[] = [];
    const filteringOff: Shape[] = [];
    for (const [s, msgs] of perShape) {
      msgs[msgs.length - 1]!.headers.last = true;
      if (s.state === "pending") {
        s.buffer!.push({ xid: txn.xid, tx, entries: msgs });
        continue;
      }
      if (s.filtering && s.filter) {
        if (s.filter.visible(txn.xid)) continue;
        if (s.filter.afterSnapshot(txn.xid)) {
          s.filtering = false;
          filteringOff.push(s);
        }
      }
      this.entriesWritten += msgs.length;
      const upto = s.compaction.grow(this.pushGroups(entries, s.id, tx, msgs), tx, this.deps.compactionThresholdBytes);
      if (upto !== undefined) this.scheduleCompaction(s, upto);
      touched.push(s);
    }
    if (entries.length > 0 || filteringOff.length > 0) {
      const storage = this.deps.storage;
      storage.transaction(() => {
        storage.append(entries);
        for (const s of filteringOff) storage.setFiltering(s.id, false);
        storage.setAppliedLsn(txn.commitLsn);
      });
    }
    this.appliedLsn = txn.commitLsn;
    if (txn.commitLsn > this.globalLsn) this.globalLsn = txn.commitLsn;
    for (const s of touched) {
      s.latest = offsetAt(tx, perShape.get(s)!.at(-1)!.headers.op_position!);
      for (const l of [...s.listeners]) l("change");
    }
    this.deps.onAppliedLsn(txn.endLsn);
  }

  /**
   * A transaction's messages for one shape become stored rows of ≤ chunk-threshold bytes each, keyed
   * by the op of their last message (so a read "after L_k" resumes at the next row). The first row
   * never ends at op 0 unless it is the only one (a real `L_0` means "after transaction L").
   */
  private pushGroups(out: PendingEntry[], shapeId: number, tx: bigint, msgs: ChangeMessage[]): number {
    let parts: string[] = [];
    let bytes = 0;
    let total = 0;
    for (let i = 0; i < msgs.length; i++) {
      const json = JSON.stringify(msgs[i]);
      parts.push(json);
      bytes += json.length + 1;
      total += json.length + 1;
      const last = i === msgs.length - 1;
      const op = msgs[i]!.headers.op_position!;
      if (last || (bytes >= this.deps.chunkBytes && op !== 0)) {
        out.push({ shapeId, tx, op, json: parts.join("\n") });
        parts = [];
        bytes = 0;
      }
    }
    return total;
  }

  /**
   * Queues a compaction of the shape's entries up to `uptoTx` (everything older than the newest
   * threshold's worth). One shape per turn of the event loop, so replication and requests interleave.
   */
  private scheduleCompaction(shape: Shape, uptoTx: bigint): void {
    this.compactQueue.set(shape, uptoTx);
    if (this.compacting) return;
    this.compacting = true;
    const next = () => {
      const first = this.compactQueue.entries().next();
      if (first.done) {
        this.compacting = false;
        return;
      }
      const [s, upto] = first.value;
      this.compactQueue.delete(s);
      if (s.state === "active") this.compact(s, upto);
      setImmediate(next);
    };
    setImmediate(next);
  }

  private compact(shape: Shape, uptoTx: bigint): void {
    const t0 = performance.now();
    const r = shape.compaction.run(this.deps.storage, shape.id, uptoTx);
    this.compactions++;
    this.messagesFolded += r.folded;
    this.deps.logger.debug(
      { handle: shape.handle, uptoTx: uptoTx.toString(), ...r, ms: Math.round(performance.now() - t0) },
      "shape log compacted",
    );
  }

  /** Idle progress (keepalive with nothing in flight). */
  advanceGlobal(lsn: bigint): void {
    if (lsn > this.globalLsn) this.globalLsn = lsn;
  }

  /** A Relation message: shapes built against a different column list are invalidated (§4.2). */
  onRelation(rel: RelationMessage): void {
    const sig = relationSignature(rel.columns);
    let changed = false;
    for (const s of [...this.index.shapesOfTable(rel.oid)]) {
      if (s.compiled.table.signature !== sig) {
        changed = true;
        this.invalidate(s, "schema change");
      }
    }
    if (changed) for (const l of this.tableListeners) l(rel.oid);
  }

  invalidate(shape: Shape, reason: string): void {
    if (shape.state === "gone") return;
    shape.state = "gone";
    this.unregister(shape);
    this.deps.storage.deleteShape(shape.id);
    this.deps.logger.info({ handle: shape.handle, reason }, "shape invalidated");
    for (const l of [...shape.listeners]) l("gone");
    shape.listeners.clear();
  }

  /**
   * Log entries after an offset, one chunk (§4.1): `before_all` → snapshot chunk 0; `0_i` → chunk i+1
   * or the start of the real log; real offsets → whole transactions until the byte threshold.
   * A real offset `L_0` is read as "after transaction L" (chunks always end on a transaction's last entry).
   */
  read(shape: Shape, after: LogOffset): ReadResult {
    if (after.kind === "now") throw new TypeError("offset 'now' has no position");
    const storage = this.deps.storage;
    if (after.kind === "before_all" || (after.tx === 0n && after.op !== "inf" && after.op + 1 < shape.snapshotChunks)) {
      const chunk = after.kind === "before_all" ? 0 : (after.op as number) + 1;
      const items: string[] = [];
      for (const r of storage.iterate(shape.id, 0n)) {
        if (r.tx !== 0n || r.op > chunk) break;
        if (r.op === chunk) for (const m of r.json.split("\n")) items.push(m);
      }
      const reachedEnd = shape.latest.tx === 0n && shape.latest.op === chunk;
      return { items, end: offsetAt(0n, chunk), reachedEnd };
    }
    const fromTx = after.tx;
    const fromOp = after.tx === 0n || after.op === "inf" || after.op === 0 ? Number.POSITIVE_INFINITY : after.op;
    const items: string[] = [];
    let bytes = 0;
    let endTx = after.tx;
    let endOp: number | "inf" = after.op;
    let stopped = false;
    for (const r of storage.iterate(shape.id, fromTx === 0n ? 1n : fromTx)) {
      if (r.tx === fromTx && r.op <= fromOp) continue;
      if (bytes >= this.deps.chunkBytes && items.length > 0) {
        stopped = true;
        break;
      }
      for (const m of r.json.split("\n")) items.push(m);
      bytes += r.json.length + 1;
      endTx = r.tx;
      endOp = r.op;
    }
    return { items, end: offsetAt(endTx, endOp), reachedEnd: !stopped };
  }

  /** Loads stored shapes; shapes whose table vanished or changed are dropped. */
  async recover(
    loadTable: (schema: string, table: string) => Promise<TableInfo | undefined>,
  ): Promise<{ recovered: number; dropped: number }> {
    const storage = this.deps.storage;
    const tables = new Map<string, TableInfo | undefined>();
    let recovered = 0;
    let dropped = 0;
    const interrupted = storage.dropIncomplete();
    if (interrupted > 0)
      this.deps.logger.info({ shapes: interrupted }, "dropped shapes whose snapshot a crash interrupted");
    const ends = storage.logEnds();
    for (const stored of storage.listShapes()) {
      const def = JSON.parse(stored.def) as ShapeDefinition;
      const tkey = `${def.schema}.${def.table}`;
      if (!tables.has(tkey)) tables.set(tkey, await loadTable(def.schema, def.table));
      const info = tables.get(tkey);
      let compiled: CompiledShape | undefined;
      try {
        compiled = info ? compileShape(def, info) : undefined;
      } catch {
        compiled = undefined;
      }
      if (!compiled || compiled.key !== stored.defKey) {
        storage.deleteShape(stored.id);
        dropped++;
        continue;
      }
      if (stored.requestKey) compiled.requestKey = stored.requestKey;
      const end = ends.get(stored.id) ?? { tx: 0n, op: 0, chunks: 0 };
      const shape: Shape = {
        id: stored.id,
        handle: stored.handle,
        compiled,
        state: "active",
        latest: offsetAt(end.tx, end.op),
        snapshotChunks: end.chunks,
        filter: stored.snapshot ? new XidFilter(JSON.parse(stored.snapshot) as SnapshotInfo) : undefined,
        filtering: stored.filtering,
        listeners: new Set(),
        // Everything stored before the restart is old enough to compact at the next threshold.
        compaction: new CompactionState(end.tx),
      };
      this.register(shape);
      this.deps.tables.retain(compiled.table.schema, compiled.table.table);
      recovered++;
    }
    this.nextId = Math.max(this.nextId, storage.nextShapeId());
    return { recovered, dropped };
  }

  /** Compiled definitions of the active shapes (the HTTP layer's request cache is seeded from them after a restart). */
  *compiledShapes(): IterableIterator<CompiledShape> {
    for (const s of this.byId.values()) if (s.state === "active") yield s.compiled;
  }

  /** Drops a shape on request (DELETE /v1/shape). */
  delete(shape: Shape): void {
    this.invalidate(shape, "deleted");
  }

  /** Drops every shape (slot loss). */
  reset(reason: string): void {
    for (const s of [...this.byId.values()]) this.invalidate(s, reason);
    this.deps.storage.reset();
    this.appliedLsn = 0n;
  }
}
