/** A live shape as the shape layer holds it, and what flows between its parts. */
import type { ChangeMessage, OffsetAt } from "@runfeed/core";
import type { CompactionState } from "./compaction.js";
import type { ChangeInput, CompiledShape } from "./definition.js";
import type { XidFilter } from "./snapshot.js";

/** pending: its snapshot is being taken (changes are buffered); active: served; gone: invalidated (409). */
export type ShapeState = "pending" | "active" | "gone";

export type ShapeEvent = "change" | "gone";

export interface Shape {
  id: number;
  handle: string;
  compiled: CompiledShape;
  state: ShapeState;
  /** The end of the last stored row: `0_(chunks-1)` right after the snapshot, then `<lsn>_<op>`. */
  latest: OffsetAt;
  /** Number of snapshot chunks (offsets 0_0 … 0_(n-1)). */
  snapshotChunks: number;
  /** Visibility against the snapshot (§9.2): transactions it already shows are skipped. */
  filter?: XidFilter;
  /** False once a transaction after the snapshot was seen: the filter is no longer needed. */
  filtering: boolean;
  /** Transactions that arrived while the snapshot was being taken. */
  buffer?: BufferedTransaction[];
  /** Resolves when a pending shape is active or gone. */
  ready?: Promise<void>;
  listeners: Set<(event: ShapeEvent) => void>;
  compaction: CompactionState;
}

export interface BufferedTransaction {
  xid: number;
  tx: bigint;
  entries: ChangeMessage[];
}

/** One committed transaction, assembled from pgoutput messages (§4.1). */
export interface ReplicatedTransaction {
  xid: number;
  commitLsn: bigint;
  endLsn: bigint;
  changes: Array<ChangeInput & { oid: number }>;
  truncated: number[];
}

/** Messages read from a shape's log: serialized change and control messages up to `end`. */
export interface ReadResult {
  items: string[];
  end: OffsetAt;
  /** True when the end is the shape's latest offset. */
  reachedEnd: boolean;
}

export class ShapeGoneError extends Error {
  override name = "ShapeGoneError";
}

/** Tells a shape's listeners (waiting requests) what happened; a listener may remove itself while called. */
export function notify(shape: Shape, event: ShapeEvent): void {
  for (const listener of [...shape.listeners]) listener(event);
}
