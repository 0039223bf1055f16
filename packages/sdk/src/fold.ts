/**
 * Folds Electric shape messages into run rows exactly as the Trigger.dev SDK does (contract §1.5):
 * a map by key; `insert` replaces, `update` shallow-merges (an update for an unknown key is stored
 * as is), `delete` is ignored, `must-refetch` clears the map. Rows touched since the last emission
 * are emitted only when a batch carries an `up-to-date` control message. With a `limit` (the
 * environment-wide feed), only the newest `limit` rows by `createdAt` are kept: older ones are
 * forgotten and not emitted (the feed asks for full rows, `log=full`, so a forgotten run that changes
 * again comes back whole). Pure data, no I/O.
 */
import { MUST_REFETCH, UP_TO_DATE } from "@runfeed/core";
import type { RawRunRow } from "./run.js";

export interface FoldMessage {
  key?: string;
  value?: Record<string, unknown>;
  headers: { operation?: string; control?: string };
}

export class RunRowFold {
  readonly #rows = new Map<string, RawRunRow>();
  readonly #touched = new Set<string>();
  readonly #limit: number | undefined;

  constructor(options: { limit?: number } = {}) {
    this.#limit = options.limit;
  }

  /** Applies one batch (one HTTP response); returns the rows to emit, in first-touched order. */
  apply(messages: readonly FoldMessage[]): RawRunRow[] {
    let upToDate = false;
    for (const message of messages) {
      const control = message.headers.control;
      if (control === MUST_REFETCH) {
        this.#rows.clear();
        this.#touched.clear();
        continue;
      }
      if (control === UP_TO_DATE) {
        upToDate = true;
        continue;
      }
      if (message.key === undefined || message.value === undefined) continue;
      const operation = message.headers.operation;
      if (operation === "insert") this.#rows.set(message.key, { ...message.value });
      else if (operation === "update")
        this.#rows.set(message.key, { ...this.#rows.get(message.key), ...message.value });
      else continue; // delete: runs that leave a filter keep being shown
      this.#touched.add(message.key);
    }
    if (!upToDate) return [];
    this.#forgetOldest();
    const out: RawRunRow[] = [];
    for (const key of this.#touched) {
      const row = this.#rows.get(key);
      if (row) out.push(row);
    }
    this.#touched.clear();
    return out;
  }

  /** Keeps the newest `limit` rows: timestamps are UTC without a zone, so they compare as text. */
  #forgetOldest(): void {
    const limit = this.#limit;
    if (limit === undefined || this.#rows.size <= limit) return;
    const created = (key: string) => String(this.#rows.get(key)?.createdAt ?? "");
    const keys = [...this.#rows.keys()].sort((a, b) => {
      const ca = created(a);
      const cb = created(b);
      return ca < cb ? 1 : ca > cb ? -1 : a < b ? 1 : a > b ? -1 : 0;
    });
    for (const key of keys.slice(limit)) {
      this.#rows.delete(key);
      this.#touched.delete(key);
    }
  }

  get size(): number {
    return this.#rows.size;
  }
}
