/**
 * The newest runs of a feed, newest first, at most `limit` of them: what a run table shows. Feed it
 * every run a subscription emits; a run already listed is replaced in place of its order, a run older
 * than the oldest of a full list is not kept. Immutable snapshots (`runs` is a new array after every
 * change), so React can compare them by identity. Pure, no I/O.
 */
import type { RealtimeRun } from "./run.js";

export interface RecentRunsOptions {
  /** How many runs to keep (default 100). */
  limit?: number;
}

export const DEFAULT_RECENT_RUNS_LIMIT = 100;

/** Newest first: later `createdAt` first, then the larger id (ids are time-ordered). */
export const newestFirst = (a: RealtimeRun<any, any, any>, b: RealtimeRun<any, any, any>) =>
  b.createdAt.getTime() - a.createdAt.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

export class RecentRuns<TRun extends RealtimeRun<any, any, any> = RealtimeRun> {
  readonly limit: number;
  #runs: readonly TRun[] = [];

  constructor(options: RecentRunsOptions = {}) {
    const limit = options.limit ?? DEFAULT_RECENT_RUNS_LIMIT;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer, got ${limit}.`);
    this.limit = limit;
  }

  /** The kept runs, newest first. */
  get runs(): readonly TRun[] {
    return this.#runs;
  }

  /** Adds or replaces one run; returns whether the list changed. */
  apply(run: TRun): boolean {
    const current = this.#runs;
    const without = current.filter((r) => r.id !== run.id);
    const full = without.length >= this.limit;
    if (full && newestFirst(run, without[without.length - 1]!) > 0) {
      if (without.length === current.length) return false;
      this.#runs = without;
      return true;
    }
    let index = without.findIndex((r) => newestFirst(run, r) < 0);
    if (index === -1) index = without.length;
    const next = [...without.slice(0, index), run, ...without.slice(index)];
    this.#runs = next.length > this.limit ? next.slice(0, this.limit) : next;
    return true;
  }
}
