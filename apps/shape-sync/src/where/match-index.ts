/**
 * Shape matching index (docs/decisions/031-shape-sync-matching-index.md): per table, a hash from
 * (column, canonical value) to shapes for `col = c` / `col IN (…)` conjuncts, another for
 * `array_col @> ARRAY[…]` (keyed by one required element), and a residual set for shapes with no
 * indexable conjunct. Candidates are then checked with the full where clause by the caller.
 */
import { indexKeyOf, parseText, type PgType, type Value } from "./values.js";
import type { IndexHint } from "./where-clause.js";
import type { TupleRow } from "../replication/pgoutput.js";

interface ColumnIndex<S> {
  type: PgType;
  byKey: Map<string, Set<S>>;
}

interface TableIndex<S> {
  eq: Map<string, ColumnIndex<S>>;
  contains: Map<string, ColumnIndex<S>>;
  residual: Set<S>;
  all: Set<S>;
}

export class MatchIndex<S> {
  private readonly tables = new Map<number, TableIndex<S>>();
  private readonly placement = new Map<S, { table: number; hint?: IndexHint }>();

  add(tableOid: number, shape: S, hint: IndexHint | undefined, type: PgType | undefined): void {
    let t = this.tables.get(tableOid);
    if (!t) {
      t = { eq: new Map(), contains: new Map(), residual: new Set(), all: new Set() };
      this.tables.set(tableOid, t);
    }
    t.all.add(shape);
    if (!hint || !type) {
      t.residual.add(shape);
      this.placement.set(shape, { table: tableOid });
      return;
    }
    const map = hint.kind === "eq" ? t.eq : t.contains;
    let ci = map.get(hint.column);
    if (!ci) {
      ci = { type, byKey: new Map() };
      map.set(hint.column, ci);
    }
    for (const k of hint.keys) {
      let set = ci.byKey.get(k);
      if (!set) ci.byKey.set(k, (set = new Set()));
      set.add(shape);
    }
    this.placement.set(shape, { table: tableOid, hint });
  }

  remove(shape: S): void {
    const p = this.placement.get(shape);
    if (!p) return;
    this.placement.delete(shape);
    const t = this.tables.get(p.table);
    if (!t) return;
    t.all.delete(shape);
    t.residual.delete(shape);
    if (p.hint) {
      const map = p.hint.kind === "eq" ? t.eq : t.contains;
      const ci = map.get(p.hint.column);
      if (ci) {
        for (const k of p.hint.keys) {
          const set = ci.byKey.get(k);
          set?.delete(shape);
          if (set && set.size === 0) ci.byKey.delete(k);
        }
        if (ci.byKey.size === 0) map.delete(p.hint.column);
      }
    }
  }

  shapesOfTable(tableOid: number): ReadonlySet<S> {
    return this.tables.get(tableOid)?.all ?? new Set();
  }

  /** Shapes that may be affected by a change with these old/new rows (a superset of the true matches). */
  candidates(tableOid: number, rows: ReadonlyArray<TupleRow | undefined>, out: Set<S>): void {
    const t = this.tables.get(tableOid);
    if (!t) return;
    for (const s of t.residual) out.add(s);
    for (const [column, ci] of t.eq) {
      for (const row of rows) {
        const text = row?.[column];
        if (text === null || text === undefined) continue;
        const key = keyOfText(ci.type, text);
        if (key === undefined) continue;
        const set = ci.byKey.get(key);
        if (set) for (const s of set) out.add(s);
      }
    }
    for (const [column, ci] of t.contains) {
      for (const row of rows) {
        const text = row?.[column];
        if (text === null || text === undefined) continue;
        let elems: Value;
        try {
          elems = parseText(ci.type, text);
        } catch {
          continue;
        }
        if (!Array.isArray(elems)) continue;
        for (const e of (elems as Value[]).flat(Infinity as 1) as Value[]) {
          const key = indexKeyOf(e);
          if (key === undefined) continue;
          const set = ci.byKey.get(key);
          if (set) for (const s of set) out.add(s);
        }
      }
    }
  }

  stats(): { tables: number; residual: number; indexed: number } {
    let residual = 0;
    let all = 0;
    for (const t of this.tables.values()) {
      residual += t.residual.size;
      all += t.all.size;
    }
    return { tables: this.tables.size, residual, indexed: all - residual };
  }
}

function keyOfText(type: PgType, text: string): string | undefined {
  if (type.base === "enum" || (type.base === "text" && type.name !== "bpchar")) return `s${text}`;
  try {
    return indexKeyOf(parseText(type, text));
  } catch {
    return undefined;
  }
}
