/**
 * Reads a shape's log after an offset, one chunk at a time (§4.1, ADR 031): `-1` gives snapshot
 * chunk 0, `0_i` chunk i+1 or the start of the replicated log, and a real offset whole transactions
 * until the byte threshold. A real `L_0` reads as "after transaction L" (rows always end on a
 * transaction's last entry, and `L_0` is what an SSE client resumes from).
 */
import { offsetAt, type LogOffset, type OffsetAt } from "@runfeed/core";
import type { ReadResult, Shape } from "./shape.js";
import type { ShapeStorage } from "./storage.js";

export class ShapeLogReader {
  constructor(
    private readonly storage: ShapeStorage,
    private readonly chunkBytes: number,
  ) {}

  read(shape: Shape, after: LogOffset): ReadResult {
    if (after.kind === "now") throw new TypeError("offset 'now' has no position");
    if (after.kind === "before_all") return this.snapshotChunk(shape, 0);
    if (after.tx === 0n && after.op !== "inf" && after.op + 1 < shape.snapshotChunks)
      return this.snapshotChunk(shape, after.op + 1);
    return this.replicated(shape, after);
  }

  /** The log after a position; a client at the shape's latest offset (every live resume) has nothing to read. */
  readAfter(shape: Shape, after: OffsetAt): ReadResult {
    const latest = shape.latest;
    if (after.tx === latest.tx && after.op === latest.op && after.tx > 0n)
      return { items: [], end: after, reachedEnd: true };
    return this.read(shape, after);
  }

  private snapshotChunk(shape: Shape, chunk: number): ReadResult {
    const items: string[] = [];
    for (const r of this.storage.iterate(shape.id, 0n)) {
      if (r.tx !== 0n || r.op > chunk) break;
      if (r.op === chunk) for (const m of r.json.split("\n")) items.push(m);
    }
    const reachedEnd = shape.latest.tx === 0n && shape.latest.op === chunk;
    return { items, end: offsetAt(0n, chunk), reachedEnd };
  }

  /** Whole stored rows after `after`, until the byte threshold is crossed. */
  private replicated(shape: Shape, after: OffsetAt): ReadResult {
    const fromTx = after.tx;
    const fromOp = after.tx === 0n || after.op === "inf" || after.op === 0 ? Number.POSITIVE_INFINITY : after.op;
    const items: string[] = [];
    let bytes = 0;
    let endTx = after.tx;
    let endOp: number | "inf" = after.op;
    for (const r of this.storage.iterate(shape.id, fromTx === 0n ? 1n : fromTx)) {
      if (r.tx === fromTx && r.op <= fromOp) continue;
      if (bytes >= this.chunkBytes && items.length > 0)
        return { items, end: offsetAt(endTx, endOp), reachedEnd: false };
      for (const m of r.json.split("\n")) items.push(m);
      bytes += r.json.length + 1;
      endTx = r.tx;
      endOp = r.op;
    }
    return { items, end: offsetAt(endTx, endOp), reachedEnd: true };
  }
}
