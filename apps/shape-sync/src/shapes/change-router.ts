/**
 * Routes replicated transactions into shape logs: the match index finds the shapes a change may
 * affect, each converts it (§3.2), the snapshot's xid filter drops what the snapshot already shows
 * (§9.2), and every touched log is appended in one durable write before listeners hear of it and the
 * slot is acknowledged. Pending shapes buffer their transactions until `activate`.
 */
import { offsetAt, type ChangeMessage } from "@runfeed/core";
import { relationSignature } from "../pg/catalog.js";
import { SKIPPED, type RelationMessage } from "../replication/pgoutput.js";
import { MatchIndex } from "../where/match-index.js";
import type { CompactionScheduler } from "./compaction-scheduler.js";
import { convertChange, typesFor, type ChangeInput } from "./definition.js";
import { notify, type ReplicatedTransaction, type Shape } from "./shape.js";
import { XidFilter, type SnapshotInfo } from "./snapshot.js";
import type { PendingEntry, ShapeStorage } from "./storage.js";

export interface ChangeRouterDeps {
  storage: ShapeStorage;
  chunkBytes: number;
  compaction: Pick<CompactionScheduler, "appended">;
  /** Drops a shape that can no longer be kept up to date (truncate, schema change). */
  invalidate: (shape: Shape, reason: string) => void;
  /** A table's columns changed (cached table metadata is stale). */
  onTableChanged: (oid: number) => void;
  /** Everything up to this LSN is stored: the slot may advance. */
  onAppliedLsn: (lsn: bigint) => void;
}

export class ChangeRouter {
  private readonly index = new MatchIndex<Shape>();
  /** Highest commit LSN fully applied (stored): also the dedupe floor after a restart. */
  private applied: bigint;
  /** Highest LSN known processed (commit or idle keepalive): `global_last_seen_lsn`. */
  private global: bigint;
  private changes = 0;
  private entries = 0;

  constructor(private readonly deps: ChangeRouterDeps) {
    this.applied = deps.storage.appliedLsn();
    this.global = this.applied;
  }

  get appliedLsn(): bigint {
    return this.applied;
  }

  get globalLsn(): bigint {
    return this.global;
  }

  /** Replicated row changes processed. */
  get changesApplied(): number {
    return this.changes;
  }

  /** Change messages written to shape logs. */
  get entriesWritten(): number {
    return this.entries;
  }

  track(shape: Shape): void {
    const hint = shape.compiled.where?.hint;
    const type = hint ? typesFor(shape.compiled.table).get(hint.column) : undefined;
    this.index.add(shape.compiled.table.oid, shape, hint, type);
  }

  untrack(shape: Shape): void {
    this.index.remove(shape);
  }

  /** Whether row data of a table must be decoded (some shape uses it). */
  hasShapesOn(oid: number): boolean {
    return this.index.shapesOfTable(oid).size > 0;
  }

  indexStats(): ReturnType<MatchIndex<Shape>["stats"]> {
    return this.index.stats();
  }

  /**
   * A pending shape's snapshot is stored: its buffered transactions not visible in the snapshot join
   * the log, and it becomes active, all in one write (the applied LSN is stored with them, so a replay
   * after a crash does not apply those transactions again).
   */
  activate(shape: Shape, snapshot: SnapshotInfo, chunks: number): void {
    const filter = new XidFilter(snapshot);
    shape.filter = filter;
    shape.snapshotChunks = chunks;
    shape.latest = offsetAt(0n, chunks - 1);
    const entries: PendingEntry[] = [];
    for (const txn of shape.buffer ?? []) {
      if (!this.admits(shape, txn.xid)) continue;
      this.pushRows(entries, shape.id, txn.tx, txn.entries);
      shape.latest = offsetAt(txn.tx, txn.entries.at(-1)!.headers.op_position!);
    }
    shape.buffer = undefined;
    const storage = this.deps.storage;
    storage.transaction(() => {
      storage.completeShape(shape.id, JSON.stringify(snapshot), shape.filtering);
      storage.append(entries);
      if (this.applied > 0n) storage.setAppliedLsn(this.applied);
    });
    shape.state = "active";
  }

  /** Applies one committed transaction: match, convert, store durably, then notify and acknowledge. */
  applyTransaction(txn: ReplicatedTransaction): void {
    if (txn.commitLsn <= this.applied) {
      this.deps.onAppliedLsn(txn.endLsn);
      return;
    }
    for (const oid of txn.truncated)
      for (const s of [...this.index.shapesOfTable(oid)]) this.deps.invalidate(s, "truncate");
    const tx = txn.commitLsn;
    const perShape = this.match(txn, tx.toString());
    this.changes += txn.changes.length;
    const entries: PendingEntry[] = [];
    const touched: Shape[] = [];
    const filteringOff: Shape[] = [];
    for (const [s, msgs] of perShape) {
      msgs.at(-1)!.headers.last = true;
      if (s.state === "pending") {
        s.buffer!.push({ xid: txn.xid, tx, entries: msgs });
        continue;
      }
      const wasFiltering = s.filtering;
      if (!this.admits(s, txn.xid)) continue;
      if (wasFiltering && !s.filtering) filteringOff.push(s);
      this.entries += msgs.length;
      this.deps.compaction.appended(s, this.pushRows(entries, s.id, tx, msgs), tx);
      touched.push(s);
    }
    if (entries.length > 0 || filteringOff.length > 0) {
      const storage = this.deps.storage;
      storage.transaction(() => {
        storage.append(entries);
        for (const s of filteringOff) storage.setFiltering(s.id, false);
        storage.setAppliedLsn(tx);
      });
    }
    this.applied = tx;
    if (tx > this.global) this.global = tx;
    for (const s of touched) {
      s.latest = offsetAt(tx, perShape.get(s)!.at(-1)!.headers.op_position!);
      notify(s, "change");
    }
    this.deps.onAppliedLsn(txn.endLsn);
  }

  /** Idle progress (keepalive with nothing in flight). */
  advanceGlobal(lsn: bigint): void {
    if (lsn > this.global) this.global = lsn;
  }

  /** A Relation message: shapes built against a different column list are invalidated (§4.2). */
  onRelation(rel: RelationMessage): void {
    const signature = relationSignature(rel.columns);
    let changed = false;
    for (const s of [...this.index.shapesOfTable(rel.oid)]) {
      if (s.compiled.table.signature === signature) continue;
      changed = true;
      this.deps.invalidate(s, "schema change");
    }
    if (changed) this.deps.onTableChanged(rel.oid);
  }

  /** Forgets replication progress (the slot was lost and every shape with it). */
  restart(): void {
    this.applied = 0n;
  }

  /** Each shape's messages for one transaction; the k-th change has op 2k (§4.1). */
  private match(txn: ReplicatedTransaction, lsn: string): Map<Shape, ChangeMessage[]> {
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
    return perShape;
  }

  /** Whether a transaction belongs in the shape's log: not already visible in its snapshot (§9.2 step 3). */
  private admits(shape: Shape, xid: number): boolean {
    if (!shape.filtering || !shape.filter) return true;
    if (shape.filter.visible(xid)) return false;
    if (shape.filter.afterSnapshot(xid)) shape.filtering = false;
    return true;
  }

  /**
   * A transaction's messages for one shape become stored rows of ≤ chunk-threshold bytes each, keyed
   * by the op of their last message (so a read "after L_k" resumes at the next row). The first row
   * never ends at op 0 unless it is the only one (a real `L_0` means "after transaction L").
   * Returns the bytes written.
   */
  private pushRows(out: PendingEntry[], shapeId: number, tx: bigint, msgs: ChangeMessage[]): number {
    let parts: string[] = [];
    let bytes = 0;
    let total = 0;
    for (let i = 0; i < msgs.length; i++) {
      const json = JSON.stringify(msgs[i]);
      parts.push(json);
      bytes += json.length + 1;
      total += json.length + 1;
      const op = msgs[i]!.headers.op_position!;
      if (i === msgs.length - 1 || (bytes >= this.deps.chunkBytes && op !== 0)) {
        out.push({ shapeId, tx, op, json: parts.join("\n") });
        parts = [];
        bytes = 0;
      }
    }
    return total;
  }
}
