/**
 * The durable ShapeStorage: one SQLite database in WAL mode (docs/decisions/030-shape-sync-storage.md).
 * Log rows are read with safe integers, so a commit LSN (`tx`) keeps all its 64 bits; `op` and the row
 * id are selected as REAL, which comes back as a JS number, so better-sqlite3's rows are LogRows as
 * they are (no per-row copy on the read path). ORDER BY names the table's columns (`log.op`), not those
 * REAL results, so the (shape_id, tx, op) index still gives the order.
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { LogEnd, LogRow, PendingEntry, ShapeStorage, StoredShape } from "./storage.js";

interface ShapeRecord {
  id: number;
  handle: string;
  def_key: string;
  def: string;
  snapshot: string | null;
  filtering: number;
  request_key: string | null;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS shapes (
    id INTEGER PRIMARY KEY, handle TEXT NOT NULL UNIQUE, def_key TEXT NOT NULL,
    def TEXT NOT NULL, snapshot TEXT, filtering INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY, shape_id INTEGER NOT NULL, tx INTEGER NOT NULL, op INTEGER NOT NULL, json TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS log_shape_offset ON log (shape_id, tx, op);
`;

export class SqliteShapeStorage implements ShapeStorage {
  private readonly db: Database.Database;
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
    this.db.exec(SCHEMA);
    const shapeColumns = this.db.prepare<[], { name: string }>("PRAGMA table_info(shapes)").all();
    if (!shapeColumns.some((c) => c.name === "request_key"))
      this.db.exec("ALTER TABLE shapes ADD COLUMN request_key TEXT");
    // 0 while the shape's snapshot is being written (its chunks are stored as they arrive).
    if (!shapeColumns.some((c) => c.name === "complete"))
      this.db.exec("ALTER TABLE shapes ADD COLUMN complete INTEGER NOT NULL DEFAULT 1");
    const db = this.db;
    this.stmts = {
      getMeta: db.prepare<[string], { value: string }>("SELECT value FROM meta WHERE key = ?"),
      setMeta: db.prepare(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
      ),
      insertPending: db.prepare(
        `INSERT INTO shapes (id, handle, def_key, def, snapshot, filtering, request_key, complete)
         VALUES (?, ?, ?, ?, NULL, 1, ?, 0)`,
      ),
      complete: db.prepare("UPDATE shapes SET snapshot = ?, filtering = ?, complete = 1 WHERE id = ?"),
      incomplete: db.prepare<[], { id: number }>("SELECT id FROM shapes WHERE complete = 0"),
      setFiltering: db.prepare("UPDATE shapes SET filtering = ? WHERE id = ?"),
      deleteShape: db.prepare("DELETE FROM shapes WHERE id = ?"),
      deleteLog: db.prepare("DELETE FROM log WHERE shape_id = ?"),
      insertLog: db.prepare("INSERT INTO log (shape_id, tx, op, json) VALUES (?, ?, ?, ?)"),
      listShapes: db.prepare<[], ShapeRecord>(
        "SELECT id, handle, def_key, def, snapshot, filtering, request_key FROM shapes WHERE complete = 1 ORDER BY id",
      ),
      ends: db
        .prepare<[], { shape_id: bigint; tx: bigint; op: bigint }>(
          `SELECT l.shape_id, l.tx, max(l.op) AS op FROM log l
           JOIN (SELECT shape_id, max(tx) AS tx FROM log GROUP BY shape_id) m ON m.shape_id = l.shape_id AND m.tx = l.tx
           GROUP BY l.shape_id, l.tx`,
        )
        .safeIntegers(true),
      chunks: db.prepare<[], { shape_id: number; n: number }>(
        "SELECT shape_id, max(op) + 1 AS n FROM log WHERE tx = 0 GROUP BY shape_id",
      ),
      range: db
        .prepare<[number, bigint, bigint], LogRow & { id: number }>(
          `SELECT CAST(id AS REAL) AS id, tx, CAST(op AS REAL) AS op, json FROM log
           WHERE shape_id = ? AND tx >= ? AND tx <= ? ORDER BY log.tx, log.op, log.id`,
        )
        .safeIntegers(true),
      deleteRow: db.prepare("DELETE FROM log WHERE id = ?"),
      rewriteRow: db.prepare("UPDATE log SET op = ?, json = ? WHERE id = ?"),
      read: db
        .prepare<[number, bigint], LogRow>(
          `SELECT tx, CAST(op AS REAL) AS op, json FROM log
           WHERE shape_id = ? AND tx >= ? ORDER BY log.tx, log.op, log.id`,
        )
        .safeIntegers(true),
      maxId: db.prepare<[], { id: number | null }>("SELECT max(id) AS id FROM shapes"),
    };
  }

  appliedLsn(): bigint {
    const v = this.stmts.getMeta.get("applied_lsn")?.value;
    return v ? BigInt(v) : 0n;
  }

  setAppliedLsn(lsn: bigint): void {
    this.stmts.setMeta.run("applied_lsn", lsn.toString());
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

  insertPendingShape(s: Omit<StoredShape, "snapshot" | "filtering">): void {
    this.stmts.insertPending.run(s.id, s.handle, s.defKey, s.def, s.requestKey);
  }

  completeShape(id: number, snapshot: string, filtering: boolean): void {
    this.stmts.complete.run(snapshot, filtering ? 1 : 0, id);
  }

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

  /** Two index scans: the latest row of every log, then the snapshot chunk counts. */
  logEnds(): Map<number, LogEnd> {
    const out = new Map<number, LogEnd>();
    for (const r of this.stmts.ends.all()) out.set(Number(r.shape_id), { tx: r.tx, op: Number(r.op), chunks: 0 });
    for (const r of this.stmts.chunks.all()) {
      const end = out.get(r.shape_id);
      if (end) end.chunks = r.n;
    }
    return out;
  }

  append(entries: ReadonlyArray<PendingEntry>): void {
    const stmt = this.stmts.insertLog;
    for (const e of entries) stmt.run(e.shapeId, e.tx, e.op, e.json);
  }

  iterate(shapeId: number, fromTx: bigint): IterableIterator<LogRow> {
    return this.stmts.read.iterate(shapeId, fromTx);
  }

  iterateRange(shapeId: number, fromTx: bigint, toTx: bigint): IterableIterator<LogRow & { id: number }> {
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

  reset(): void {
    this.db.exec("DELETE FROM log; DELETE FROM shapes; DELETE FROM meta;");
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
