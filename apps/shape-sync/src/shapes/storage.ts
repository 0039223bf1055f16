/**
 * Durable shape storage in one SQLite database (WAL mode): shape definitions, each shape's log
 * (snapshot chunks at tx 0, then replicated entries at <commit lsn>_<op>), and the replication
 * LSN up to which everything is stored. See docs/decisions/030-shape-sync-storage.md.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

export interface StoredShape {
  id: number;
  handle: string;
  defKey: string;
  def: string;
  snapshot: string | null;
  filtering: boolean;
  /** Hash of the request parameters that created the shape (restart: requests resolve without recompiling). */
  requestKey: string | null;
}

export interface LogRow {
  tx: number;
  op: number;
  json: string;
}

export interface PendingEntry {
  shapeId: number;
  tx: number;
  op: number;
  json: string;
}

export class ShapeStorage {
  readonly db: Database.Database;
  private readonly stmts;

  constructor(dir: string, cacheMb = 16, synchronous: "normal" | "full" = "normal") {
    mkdirSync(dir, { recursive: true });
    this.db = new Database(join(dir, "shapes.sqlite"));
    this.db.pragma("journal_mode = WAL");
    // NORMAL in WAL mode: a committed write survives a process crash (kill -9); FULL also an OS crash
    // or power loss, at one fsync per replicated transaction (ADR 030).
    this.db.pragma(`synchronous = ${synchronous === "full" ? "FULL" : "NORMAL"}`);
    this.db.pragma(`cache_size = -${cacheMb * 1024}`);
    this.db.pragma("wal_autocheckpoint = 4000");
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS shapes (
        id INTEGER PRIMARY KEY, handle TEXT NOT NULL UNIQUE, def_key TEXT NOT NULL,
        def TEXT NOT NULL, snapshot TEXT, filtering INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE IF NOT EXISTS log (
        id INTEGER PRIMARY KEY, shape_id INTEGER NOT NULL, tx INTEGER NOT NULL, op INTEGER NOT NULL, json TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS log_shape_offset ON log (shape_id, tx, op);
    `);
    const shapeColumns = this.db.prepare<[], { name: string }>("PRAGMA table_info(shapes)").all();
    if (!shapeColumns.some((c) => c.name === "request_key"))
      this.db.exec("ALTER TABLE shapes ADD COLUMN request_key TEXT");
    // 0 while the shape's snapshot is being written (its chunks are stored as they arrive).
    if (!shapeColumns.some((c) => c.name === "complete"))
      this.db.exec("ALTER TABLE shapes ADD COLUMN complete INTEGER NOT NULL DEFAULT 1");
    this.stmts = {
      getMeta: this.db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      setMeta: this.db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      insertPending: this.db.prepare(
        "INSERT INTO shapes (id, handle, def_key, def, snapshot, filtering, request_key, complete) VALUES (?, ?, ?, ?, NULL, 1, ?, 0)",
      ),
      complete: this.db.prepare("UPDATE shapes SET snapshot = ?, filtering = ?, complete = 1 WHERE id = ?"),
      incomplete: this.db.prepare<[], { id: number }>("SELECT id FROM shapes WHERE complete = 0"),
      setFiltering: this.db.prepare("UPDATE shapes SET filtering = ? WHERE id = ?"),
      deleteShape: this.db.prepare("DELETE FROM shapes WHERE id = ?"),
      deleteLog: this.db.prepare("DELETE FROM log WHERE shape_id = ?"),
      insertLog: this.db.prepare("INSERT INTO log (shape_id, tx, op, json) VALUES (?, ?, ?, ?)"),
      listShapes: this.db.prepare<
        [],
        {
          id: number;
          handle: string;
          def_key: string;
          def: string;
          snapshot: string | null;
          filtering: number;
          request_key: string | null;
        }
      >("SELECT id, handle, def_key, def, snapshot, filtering, request_key FROM shapes WHERE complete = 1 ORDER BY id"),
      latest: this.db.prepare<[number], { tx: number; op: number }>(
        "SELECT tx, op FROM log WHERE shape_id = ? ORDER BY tx DESC, op DESC LIMIT 1",
      ),
      range: this.db.prepare<[number, number, number], LogRow & { id: number }>(
        "SELECT id, tx, op, json FROM log WHERE shape_id = ? AND tx >= ? AND tx <= ? ORDER BY tx, op, id",
      ),
      deleteRow: this.db.prepare("DELETE FROM log WHERE id = ?"),
      rewriteRow: this.db.prepare("UPDATE log SET op = ?, json = ? WHERE id = ?"),
      read: this.db.prepare<[number, number], LogRow>(
        "SELECT tx, op, json FROM log WHERE shape_id = ? AND tx >= ? ORDER BY tx, op, id",
      ),
      snapshotChunks: this.db.prepare<[number], { n: number | null }>(
        "SELECT max(op) + 1 AS n FROM log WHERE shape_id = ? AND tx = 0",
      ),
      maxId: this.db.prepare<[], { id: number | null }>("SELECT max(id) AS id FROM shapes"),
    };
  }

  appliedLsn(): bigint {
    const v = this.stmts.getMeta.get("applied_lsn")?.value;
    return v ? BigInt(v) : 0n;
  }

  setAppliedLsn(lsn: bigint): void {
    this.stmts.setMeta.run("applied_lsn", lsn.toString());
  }

  getMeta(key: string): string | undefined {
    return this.stmts.getMeta.get(key)?.value;
  }

  setMeta(key: string, value: string): void {
    this.stmts.setMeta.run(key, value);
  }

  nextShapeId(): number {
    return (this.stmts.maxId.get()?.id ?? 0) + 1;
  }

  listShapes(): StoredShape[] {
    return this.stmts.listShapes.all().map((r) => ({
      id: r.id,
      handle: r.handle,
      defKey: r.def_key,
      def: r.def,
      snapshot: r.snapshot,
      filtering: r.filtering === 1,
      requestKey: r.request_key,
    }));
  }

  /** Latest (tx, op) of a shape's log. */
  latestOffset(shapeId: number): { tx: number; op: number } | undefined {
    return this.stmts.latest.get(shapeId);
  }

  /** Latest (tx, op) and snapshot chunk count of every shape, in two index scans (restart recovery). */
  allOffsets(): Map<number, { tx: number; op: number; chunks: number }> {
    const out = new Map<number, { tx: number; op: number; chunks: number }>();
    const latest = this.db
      .prepare<[], { shape_id: number; tx: number; op: number }>(
        `SELECT l.shape_id, l.tx, max(l.op) AS op FROM log l
         JOIN (SELECT shape_id, max(tx) AS tx FROM log GROUP BY shape_id) m ON m.shape_id = l.shape_id AND m.tx = l.tx
         GROUP BY l.shape_id, l.tx`,
      )
      .all();
    for (const r of latest) out.set(r.shape_id, { tx: r.tx, op: r.op, chunks: 0 });
    const chunks = this.db
      .prepare<[], { shape_id: number; n: number }>(
        "SELECT shape_id, max(op) + 1 AS n FROM log WHERE tx = 0 GROUP BY shape_id",
      )
      .all();
    for (const r of chunks) {
      const o = out.get(r.shape_id);
      if (o) o.chunks = r.n;
    }
    return out;
  }

  /** Number of snapshot chunks (entries at tx 0) of a shape. */
  snapshotChunks(shapeId: number): number {
    return this.stmts.snapshotChunks.get(shapeId)?.n ?? 0;
  }

  /** Registers a shape whose snapshot is about to be written (not listed until `completeShape`). */
  insertPendingShape(s: Omit<StoredShape, "snapshot" | "filtering">): void {
    this.stmts.insertPending.run(s.id, s.handle, s.defKey, s.def, s.requestKey);
  }

  completeShape(id: number, snapshot: string, filtering: boolean): void {
    this.stmts.complete.run(snapshot, filtering ? 1 : 0, id);
  }

  /** Removes shapes whose snapshot was cut off by a crash, with their partial logs; returns how many. */
  dropIncomplete(): number {
    const ids = this.stmts.incomplete.all();
    this.transaction(() => ids.forEach(({ id }) => this.deleteShape(id)));
    return ids.length;
  }

  setFiltering(id: number, filtering: boolean): void {
    this.stmts.setFiltering.run(filtering ? 1 : 0, id);
  }

  deleteShape(id: number): void {
    this.stmts.deleteShape.run(id);
    this.stmts.deleteLog.run(id);
  }

  append(entries: ReadonlyArray<PendingEntry>): void {
    const stmt = this.stmts.insertLog;
    for (const e of entries) stmt.run(e.shapeId, e.tx, e.op, e.json);
  }

  /** Entries of a shape with tx ≥ fromTx in log order (callers filter the exact lower bound). */
  iterate(shapeId: number, fromTx: number): IterableIterator<LogRow> {
    return this.stmts.read.iterate(shapeId, fromTx);
  }

  /** Entries of a shape with fromTx ≤ tx ≤ toTx in log order, with their row ids (compaction). */
  iterateRange(shapeId: number, fromTx: number, toTx: number): IterableIterator<LogRow & { id: number }> {
    return this.stmts.range.iterate(shapeId, fromTx, toTx);
  }

  deleteRow(id: number): void {
    this.stmts.deleteRow.run(id);
  }

  rewriteRow(id: number, op: number, json: string): void {
    this.stmts.rewriteRow.run(op, json, id);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** Removes everything (slot loss). */
  reset(): void {
    this.db.exec("DELETE FROM log; DELETE FROM shapes; DELETE FROM meta;");
  }

  checkpoint(): void {
    this.db.pragma("wal_checkpoint(TRUNCATE)");
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
