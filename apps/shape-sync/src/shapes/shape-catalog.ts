/**
 * The catalog of shapes: which exist (by handle, definition key and id), creating one (publication →
 * register → snapshot → activate, §9.2), recovering them after a restart, and dropping them
 * (invalidation answers 409 from then on, §4.2, §6.2).
 */
import { createHash } from "node:crypto";
import { offsetAt } from "@runfeed/core";
import type pg from "pg";
import type { Logger } from "pino";
import type { TableInfo } from "../pg/catalog.js";
import type { PublishedTables } from "../replication/published-tables.js";
import type { ChangeRouter } from "./change-router.js";
import { CompactionState } from "./compaction.js";
import { compileShape, type CompiledShape, type ShapeDefinition } from "./definition.js";
import { notify, ShapeGoneError, type Shape, type ShapeState } from "./shape.js";
import { takeSnapshot, XidFilter, type SnapshotInfo } from "./snapshot.js";
import type { ShapeStorage, StoredShape } from "./storage.js";

export interface ShapeCatalogDeps {
  storage: ShapeStorage;
  pool: pg.Pool;
  /** Tables in the publication, counted per shape (acquired at creation, retained at recovery, released when gone). */
  tables: Pick<PublishedTables, "acquire" | "retain" | "release">;
  /** Shapes are routed changes from registration on, and activated once their snapshot is stored. */
  router: Pick<ChangeRouter, "track" | "untrack" | "activate">;
  chunkBytes: number;
  logger: Logger;
}

export class ShapeCatalog {
  private readonly byHandle = new Map<string, Shape>();
  private readonly byKey = new Map<string, Shape>();
  private readonly byId = new Map<number, Shape>();
  private readonly creating = new Map<string, Promise<Shape>>();
  private nextId: number;
  private handleCounter = 0;

  constructor(private readonly deps: ShapeCatalogDeps) {
    this.nextId = deps.storage.nextShapeId();
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

  /** Compiled definitions of the active shapes (the HTTP layer's request cache is seeded from them after a restart). */
  *compiledShapes(): IterableIterator<CompiledShape> {
    for (const s of this.byId.values()) if (s.state === "active") yield s.compiled;
  }

  /** Returns the ready shape for this definition, creating it (with its snapshot) if needed. */
  async getOrCreate(compiled: CompiledShape): Promise<Shape> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = this.byKey.get(compiled.key);
      if (existing?.state === "active") return existing;
      if (existing?.state === "pending") {
        await existing.ready;
        if ((existing.state as ShapeState) === "active") return existing;
        continue;
      }
      let creation = this.creating.get(compiled.key);
      if (!creation) {
        creation = this.create(compiled).finally(() => this.creating.delete(compiled.key));
        this.creating.set(compiled.key, creation);
      }
      try {
        return await creation;
      } catch (e) {
        if (!(e instanceof ShapeGoneError)) throw e;
      }
    }
    throw new ShapeGoneError("shape was invalidated repeatedly while being created");
  }

  /** Drops a shape: its log is deleted and its waiting requests hear `gone`. */
  invalidate(shape: Shape, reason: string): void {
    if (shape.state === "gone") return;
    shape.state = "gone";
    this.unregister(shape);
    this.deps.storage.deleteShape(shape.id);
    this.deps.logger.info({ handle: shape.handle, reason }, "shape invalidated");
    notify(shape, "gone");
    shape.listeners.clear();
  }

  /** Drops every shape. */
  invalidateAll(reason: string): void {
    for (const s of [...this.byId.values()]) this.invalidate(s, reason);
  }

  /** Loads stored shapes; shapes whose table vanished or changed are dropped. */
  async recover(
    loadTable: (schema: string, table: string) => Promise<TableInfo | undefined>,
  ): Promise<{ recovered: number; dropped: number }> {
    const storage = this.deps.storage;
    const interrupted = storage.dropIncomplete();
    if (interrupted > 0)
      this.deps.logger.info({ shapes: interrupted }, "dropped shapes whose snapshot a crash interrupted");
    const tables = new Map<string, Promise<TableInfo | undefined>>();
    const ends = storage.logEnds();
    let recovered = 0;
    let dropped = 0;
    for (const stored of storage.listShapes()) {
      const def = JSON.parse(stored.def) as ShapeDefinition;
      const tableKey = `${def.schema}.${def.table}`;
      if (!tables.has(tableKey)) tables.set(tableKey, loadTable(def.schema, def.table));
      const compiled = recompile(stored, def, await tables.get(tableKey)!);
      if (!compiled) {
        storage.deleteShape(stored.id);
        dropped++;
        continue;
      }
      const end = ends.get(stored.id) ?? { tx: 0n, op: 0, chunks: 0 };
      this.register({
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
      });
      this.deps.tables.retain(compiled.table.schema, compiled.table.table);
      recovered++;
    }
    this.nextId = Math.max(this.nextId, storage.nextShapeId());
    return { recovered, dropped };
  }

  private async create(compiled: CompiledShape): Promise<Shape> {
    await this.deps.tables.acquire(compiled.table.schema, compiled.table.table);
    let resolveReady!: () => void;
    const shape: Shape = {
      id: this.nextId++,
      handle: this.newHandle(compiled.key),
      compiled,
      state: "pending",
      latest: offsetAt(0n, 0),
      snapshotChunks: 0,
      filtering: true,
      buffer: [],
      ready: new Promise<void>((resolve) => (resolveReady = resolve)),
      listeners: new Set(),
      compaction: new CompactionState(),
    };
    this.register(shape);
    const storage = this.deps.storage;
    const stillWanted = () => {
      if (shape.state === "gone") throw new ShapeGoneError("shape invalidated during its snapshot");
    };
    try {
      // Stored as pending first: snapshot chunks go to disk as they arrive (memory holds one chunk), and
      // a crash before it is activated leaves a shape that recovery drops with its partial log.
      storage.insertPendingShape({
        id: shape.id,
        handle: shape.handle,
        defKey: compiled.key,
        def: JSON.stringify(compiled.def),
        requestKey: compiled.requestKey ?? null,
      });
      const snapshot = await takeSnapshot(this.deps.pool, compiled, this.deps.chunkBytes, (index, chunk) => {
        stillWanted();
        storage.append([{ shapeId: shape.id, tx: 0n, op: index, json: chunk }]);
      });
      stillWanted();
      this.deps.router.activate(shape, snapshot, snapshot.chunks);
      this.deps.logger.debug(
        { handle: shape.handle, table: `${compiled.table.schema}.${compiled.table.table}`, chunks: snapshot.chunks },
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

  /** `<hash of the definition>-<µs>` (§4.2): never reused. */
  private newHandle(key: string): string {
    const hash = parseInt(createHash("sha1").update(key).digest("hex").slice(0, 7), 16);
    const micros = Date.now() * 1000 + (this.handleCounter++ % 1000);
    return `${hash}-${micros}`;
  }

  private register(shape: Shape): void {
    this.byHandle.set(shape.handle, shape);
    this.byKey.set(shape.compiled.key, shape);
    this.byId.set(shape.id, shape);
    this.deps.router.track(shape);
  }

  private unregister(shape: Shape): void {
    this.byHandle.delete(shape.handle);
    if (this.byKey.get(shape.compiled.key) === shape) this.byKey.delete(shape.compiled.key);
    this.byId.delete(shape.id);
    this.deps.router.untrack(shape);
    this.deps.tables.release(shape.compiled.table.schema, shape.compiled.table.table);
  }
}

/** A stored shape compiled against the table as it is now; undefined when the table is gone or changed. */
function recompile(stored: StoredShape, def: ShapeDefinition, table: TableInfo | undefined): CompiledShape | undefined {
  if (!table) return undefined;
  let compiled: CompiledShape;
  try {
    compiled = compileShape(def, table);
  } catch {
    return undefined;
  }
  if (compiled.key !== stored.defKey) return undefined;
  if (stored.requestKey) compiled.requestKey = stored.requestKey;
  return compiled;
}
