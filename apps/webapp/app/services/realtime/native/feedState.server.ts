/**
 * What a native feed's client holds, and how it moves (docs/decisions/073-realtime-notifier-backend.md).
 *
 * A client's view is a working set: run id → the `updatedAt` (epoch ms) of the row it last received.
 * Each answer diffs the current rows against it: new ids are inserts, moved `updatedAt`s updates (the
 * whole row), ids gone deletes. Offsets are `<tx>_<op>`, increasing per handle.
 *
 * - A single run's working set fits in its offset: `<updatedAt>_0` (it holds the row as of that
 *   `updatedAt`) or `<tx>_1` (it holds nothing). Its handle names only the feed's definition, so a
 *   run feed resumes on any instance and across restarts.
 * - A tag or batch feed's working set lives in this instance's memory under its handle (the last two
 *   offsets', so a retried request is answered again), at most WORKING_SET_MAX_ENTRIES handles. A
 *   handle this instance does not hold (evicted, restarted, another instance) is a 409 must-refetch.
 */
import { createHash, randomBytes } from "node:crypto";
import { type OffsetAt, offsetAt } from "@runfeed/core";
import { TtlCache } from "../../ttlCache.server";
import { type RunRow, timestampMs } from "./runRows.server";

export type WorkingSet = ReadonlyMap<string, number>;

export interface Diff {
  inserts: RunRow[];
  updates: RunRow[];
  deletes: string[];
  next: Map<string, number>;
}

export function diffRows(previous: WorkingSet | undefined, rows: readonly RunRow[]): Diff {
  const next = new Map<string, number>();
  const inserts: RunRow[] = [];
  const updates: RunRow[] = [];
  for (const row of rows) {
    const id = row.id!;
    const updatedAt = timestampMs(row.updatedAt);
    next.set(id, updatedAt);
    const before = previous?.get(id);
    if (before === undefined) inserts.push(row);
    else if (before !== updatedAt) updates.push(row);
  }
  const deletes: string[] = [];
  if (previous) for (const id of previous.keys()) if (!next.has(id)) deletes.push(id);
  return { inserts, updates, deletes, next };
}

export const hasChanges = (diff: Diff) => diff.inserts.length + diff.updates.length + diff.deletes.length > 0;

/** A short digest of a feed's definition (environment, filter, columns): the fixed part of its handles. */
export function definitionDigest(parts: readonly unknown[]): string {
  return createHash("sha256").update(JSON.stringify(parts)).digest("hex").slice(0, 16);
}

// --- single runs: the working set is the offset

export function runWorkingSet(runId: string, offset: OffsetAt): WorkingSet {
  return offset.op === 0 && offset.tx > 0n ? new Map([[runId, Number(offset.tx)]]) : new Map();
}

export function runOffset(next: WorkingSet, runId: string, previous: OffsetAt | undefined): OffsetAt {
  const updatedAt = next.get(runId);
  if (updatedAt !== undefined) return offsetAt(BigInt(updatedAt), 0);
  const after = previous ? Number(previous.tx) + 1 : 0;
  return offsetAt(BigInt(Math.max(after, Date.now())), 1);
}

// --- tag and batch feeds: working sets in memory

export interface SetFeedState {
  digest: string;
  /** Tag feed: the createdAt floor fixed for the handle's life. */
  floor?: Date;
  lastTx: bigint;
  /** Working sets by offset text: the last two answers'. */
  sets: Map<string, WorkingSet>;
}

export class SetFeedStates {
  readonly #states: TtlCache<SetFeedState>;

  constructor(options: { maxEntries: number; idleMs?: number }) {
    this.#states = new TtlCache({ ttlMs: options.idleMs ?? 3_600_000, maxEntries: options.maxEntries });
  }

  create(digest: string, floor?: Date): { handle: string; state: SetFeedState } {
    const handle = `${digest}-${randomBytes(8).toString("hex")}`;
    const state: SetFeedState = { digest, floor, lastTx: 0n, sets: new Map() };
    this.#states.set(handle, state);
    return { handle, state };
  }

  get(handle: string): SetFeedState | undefined {
    const state = this.#states.peek(handle);
    if (state) this.#states.set(handle, state); // idle time counts from the last use
    return state;
  }

  /** Records the working set answered at a new offset (strictly after the last), and returns that offset. */
  advance(state: SetFeedState, set: WorkingSet): OffsetAt {
    const tx = BigInt(Date.now()) > state.lastTx ? BigInt(Date.now()) : state.lastTx + 1n;
    state.lastTx = tx;
    const offset = offsetAt(tx, 0);
    state.sets.set(`${tx}_0`, set);
    while (state.sets.size > 2) state.sets.delete(state.sets.keys().next().value!);
    return offset;
  }

  get size(): number {
    return this.#states.size;
  }
}
