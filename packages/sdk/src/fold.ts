/**
 * Folds Electric shape messages into run rows exactly as the Trigger.dev SDK does (contract §1.5):
 * a map by key; `insert` replaces, `update` shallow-merges (an update for an unknown key is stored
 * as is), `delete` is ignored, `must-refetch` clears the map. Rows touched since the last emission
 * are emitted only when a batch carries an `up-to-date` control message. Pure data, no I/O.
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
    const out: RawRunRow[] = [];
    for (const key of this.#touched) {
      const row = this.#rows.get(key);
      if (row) out.push(row);
    }
    this.#touched.clear();
    return out;
  }

  get size(): number {
    return this.#rows.size;
  }
}
