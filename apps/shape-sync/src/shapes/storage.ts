/**
 * Where shapes and their logs are kept (like Electric's `shape_cache/storage.ex`, one interface with
 * several implementations): `SqliteShapeStorage` (durable, the server's) and `MemoryShapeStorage`
 * (unit tests). A shape's log holds its snapshot chunks at tx 0 (`0_i`, §4.1), then replicated entries
 * at `<commit lsn>_<op>`; the store also keeps the LSN up to which every log is complete.
 * See docs/decisions/030-shape-sync-storage.md.
 */

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

/** One stored row of a shape's log: one or more change messages (JSON, "\n"-joined) ending at (tx, op). */
export interface LogRow {
  tx: bigint;
  op: number;
  json: string;
}

export interface PendingEntry extends LogRow {
  shapeId: number;
}

/** The latest stored row of a shape's log, and how many snapshot chunks it has. */
export interface LogEnd {
  tx: bigint;
  op: number;
  chunks: number;
}

export interface ShapeStorage {
  /** The LSN up to which every shape's log is complete (0 when nothing was stored). */
  appliedLsn(): bigint;
  setAppliedLsn(lsn: bigint): void;

  nextShapeId(): number;
  /** Shapes whose snapshot is complete, by id. */
  listShapes(): StoredShape[];
  /** Registers a shape whose snapshot is about to be written (not listed until `completeShape`). */
  insertPendingShape(shape: Omit<StoredShape, "snapshot" | "filtering">): void;
  completeShape(id: number, snapshot: string, filtering: boolean): void;
  /** Removes shapes whose snapshot was cut off by a crash, with their partial logs; returns how many. */
  dropIncomplete(): number;
  setFiltering(id: number, filtering: boolean): void;
  /** Removes a shape and its log. */
  deleteShape(id: number): void;

  /** The end of every stored shape's log (restart recovery). */
  logEnds(): Map<number, LogEnd>;
  append(entries: ReadonlyArray<PendingEntry>): void;
  /** Rows of a shape with tx ≥ fromTx in log order (callers filter the exact lower bound). */
  iterate(shapeId: number, fromTx: bigint): IterableIterator<LogRow>;
  /** Rows of a shape with fromTx ≤ tx ≤ toTx in log order, with their row ids (compaction). */
  iterateRange(shapeId: number, fromTx: bigint, toTx: bigint): IterableIterator<LogRow & { id: number }>;
  deleteRow(id: number): void;
  /** Replaces a row's messages, keyed by the op of its new last message. */
  rewriteRow(id: number, op: number, json: string): void;

  /** Runs `fn` atomically: everything it wrote, or nothing. */
  transaction<T>(fn: () => T): T;
  /** Removes everything (slot loss). */
  reset(): void;
  close(): void;
}
