/** Shared types of the where compiler: errors, row evaluation context, typed nodes, index hints. */
import type { Node } from "@pgsql/types";
import { parseText, type BaseType, type PgType, type Value } from "./values.js";

/** A node payload that may carry a source position (for error messages). */
export type Located = { location?: number } | undefined;

/** The payload of a node (`{A_Expr: {...}}` → `{...}`), for its location. */
export const payloadOf = (node: Node): Located => Object.values(node)[0] as Located;

export class WhereError extends Error {
  override name = "WhereError";
}

export interface ColumnType extends PgType {
  name: string;
  /**
   * Effective collation of a text column (its name, or the database locale for the default
   * collation); absent = the database default.
   */
  collation?: string;
  /** The column uses the database default collation (Postgres "default" derivation). */
  collationIsDefault?: boolean;
  /** The column's collation orders text by code point (C, POSIX, C.UTF-8, ucs_basic, builtin). Absent = true. */
  codePointOrder?: boolean;
  /** False for a nondeterministic collation (equality is not byte equality). Absent = true. */
  deterministic?: boolean;
  /** The database default collation, used by text constants. */
  defaultCollation?: { name: string; codePointOrder: boolean };
}

/** Collation of a text expression (Postgres collation derivation); absent = the database default. */
export interface Collation {
  name: string;
  derivation: "explicit" | "implicit" | "default" | "indeterminate";
  codePointOrder: boolean;
  deterministic: boolean;
}

export type Row = Record<string, string | null | undefined>;

/** Evaluation context: parses each column at most once per row. */
export class RowContext {
  private cache = new Map<string, Value>();
  constructor(
    readonly row: Row,
    private readonly columns: ReadonlyMap<string, ColumnType>,
  ) {}
  get(column: string): Value {
    if (this.cache.has(column)) return this.cache.get(column)!;
    const text = this.row[column];
    const type = this.columns.get(column)!;
    const v = text === null || text === undefined ? null : parseText(type, text);
    this.cache.set(column, v);
    return v;
  }
}

export type Eval = (ctx: RowContext) => Value;

export interface Typed {
  /** `unknown` = an untyped string literal or parameter, typed by context like Postgres does. */
  type: PgType | "unknown";
  eval: Eval;
  /** The literal text of an unknown-typed constant. */
  unknownText?: string;
  /** Set for constants (no column reference). */
  isConst: boolean;
  /** Set for a bare column reference. */
  column?: string;
  /** Collation of a text-typed expression when not the database default (see collation.ts). */
  collation?: Collation;
  /** Index hints contributed by this node if it is a conjunct. */
  hints?: IndexHint[];
}

export interface IndexHint {
  column: string;
  kind: "eq" | "contains";
  /**
   * Canonical index keys (indexKeyOf). For `eq`, a row matches if its key is one of these; for
   * `contains`, the row's array must contain this element.
   */
  keys: string[];
}

/**
 * A strict unary operation: null in, null out. The closure holds only the operand's evaluator and `f`
 * (evaluator trees live as long as their shape).
 */
export function strict1<V extends Value>(type: PgType, x: Typed, f: (v: V) => Value): Typed {
  const e = x.eval;
  return {
    type,
    isConst: x.isConst,
    eval: (ctx) => {
      const v = e(ctx);
      return v === null ? null : f(v as V);
    },
  };
}

/** A strict binary operation: both operands evaluated, null if either is. */
export function strict2(type: PgType, x: Typed, y: Typed, f: (l: Value, r: Value) => Value): Typed {
  const ex = x.eval;
  const ey = y.eval;
  return {
    type,
    isConst: x.isConst && y.isConst,
    eval: (ctx) => {
      const l = ex(ctx);
      const r = ey(ctx);
      return l === null || r === null ? null : f(l, r);
    },
  };
}

export const PREFIX = "SELECT 1 WHERE ";

export const T = (base: BaseType, name: string = base, dims = 0): PgType => ({ base, name, dims });
export const BOOL = T("bool");
export const INT = T("int", "int8");
export const FLOAT = T("float", "float8");
export const TEXT = T("text");
export const NUMERIC = T("numeric");
export const INTERVAL = T("interval");
export const TIMESTAMP = T("timestamp");
export const TIMESTAMPTZ = T("timestamptz");
