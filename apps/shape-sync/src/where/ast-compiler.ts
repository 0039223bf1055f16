/**
 * libpg-query AST (typed by @pgsql/types) → typed closure tree (§8): the type rules (unknown literals
 * and `$n` typed by context, numeric and date promotions) and the dispatch over node kinds. Operators,
 * predicates, casts, functions and collations live beside it. A class, so that evaluator closures do not
 * keep the compiler's own functions and state alive (they capture only their operands).
 */
import type { A_Const, ColumnRef, Node, ParamRef } from "@pgsql/types";
import { castTo, promotion } from "./casts.js";
import { compileCollate, withCollation } from "./collation.js";
import { compileAExpr } from "./a-expr.js";
import { compileArray, compileBoolExpr, compileBooleanTest, compileChoice, compileNullTest } from "./expressions.js";
import { compileFuncCall, compileIndirection } from "./functions.js";
import { parseNumeric } from "./numeric.js";
import {
  BOOL,
  FLOAT,
  INT,
  NUMERIC,
  PREFIX,
  RowContext,
  TEXT,
  WhereError,
  payloadOf,
  strict1,
  type ColumnType,
  type IndexHint,
  type Located,
  type Typed,
} from "./types.js";
import { INDEXABLE_BASES, indexKeyOf, parseText, typeLabel, type PgType, type Value } from "./values.js";

const INT8_MAX = 2n ** 63n - 1n;
const UNCOMPARABLE_BASES: ReadonlySet<string> = new Set(["jsonb", "bytea", "other"]);
const isNumeric = (t: PgType) => t.dims === 0 && (t.base === "int" || t.base === "float" || t.base === "numeric");
const isDateish = (t: PgType) =>
  t.dims === 0 && (t.base === "date" || t.base === "timestamp" || t.base === "timestamptz");
const isTextish = (t: PgType) => t.dims === 0 && (t.base === "text" || t.base === "enum");

export class AstCompiler {
  readonly usedParams = new Map<number, { location: number; length: number }[]>();
  readonly referenced = new Set<string>();
  constructor(
    readonly columns: ReadonlyMap<string, ColumnType>,
    readonly params: ReadonlyArray<string>,
    /** False when only Postgres evaluates the clause (subset wheres): collations are its business. */
    readonly checkCollations = true,
  ) {}

  at(node: Located): number {
    return Math.max(0, (node?.location ?? 15) - PREFIX.length);
  }
  fail(node: Located, msg: string): never {
    throw new WhereError(`At location ${this.at(node)}: ${msg}`);
  }

  /** Compiles a node; its text result's collation is derived from the results compiled under it. */
  compile(node: Node): Typed {
    return withCollation(this, node, () => this.compileNode(node));
  }

  private compileNode(node: Node): Typed {
    if ("A_Const" in node) return this.constant(node.A_Const);
    if ("ColumnRef" in node) return this.columnRef(node.ColumnRef);
    if ("ParamRef" in node) return this.paramRef(node.ParamRef);
    if ("TypeCast" in node)
      return castTo(this, this.compile(node.TypeCast.arg!), node.TypeCast.typeName!, node.TypeCast);
    if ("BoolExpr" in node) return compileBoolExpr(this, node.BoolExpr);
    if ("NullTest" in node) return compileNullTest(this, node.NullTest);
    if ("BooleanTest" in node) return compileBooleanTest(this, node.BooleanTest);
    if ("A_ArrayExpr" in node) return compileArray(this, node.A_ArrayExpr);
    if ("CoalesceExpr" in node) return compileChoice(this, node.CoalesceExpr.args ?? [], "coalesce", node.CoalesceExpr);
    if ("MinMaxExpr" in node) {
      const n = node.MinMaxExpr;
      return compileChoice(this, n.args ?? [], n.op === "IS_GREATEST" ? "greatest" : "least", n);
    }
    if ("FuncCall" in node) return compileFuncCall(this, node.FuncCall);
    if ("CollateClause" in node) return compileCollate(this, node.CollateClause);
    if ("A_Indirection" in node) return compileIndirection(this, node.A_Indirection);
    if ("A_Expr" in node) return compileAExpr(this, node.A_Expr);
    const kind = Object.keys(node)[0];
    const payload = payloadOf(node);
    if (kind === "SubLink")
      return this.fail(
        payload,
        "SubLink is not supported in this context (subqueries are not supported by this server)",
      );
    return this.fail(payload, `${kind} is not supported in this context`);
  }

  private constant(n: A_Const): Typed {
    if (n.isnull) return { type: "unknown", eval: () => null, isConst: true };
    if (n.ival !== undefined) {
      const v = BigInt(n.ival.ival ?? 0);
      return { type: INT, eval: () => v, isConst: true };
    }
    if (n.fval !== undefined) {
      const text = String(n.fval.fval);
      // Like Postgres: an integer literal too big for int4 is int8 when it fits, numeric beyond.
      if (/^\d+$/.test(text) && BigInt(text) <= INT8_MAX) {
        const v = BigInt(text);
        return { type: INT, eval: () => v, isConst: true };
      }
      const v = parseNumeric(text);
      if (!v) return this.fail(n, `invalid numeric constant ${text}`);
      return { type: NUMERIC, eval: () => v, isConst: true };
    }
    if (n.boolval !== undefined) {
      const v = Boolean(n.boolval.boolval);
      return { type: BOOL, eval: () => v, isConst: true };
    }
    if (n.sval !== undefined) {
      const s = String(n.sval.sval ?? "");
      return { type: "unknown", unknownText: s, eval: () => s, isConst: true };
    }
    return this.fail(n, "unsupported constant");
  }

  private columnRef(n: ColumnRef): Typed {
    const fields = n.fields ?? [];
    const only = fields.length === 1 ? fields[0] : undefined;
    if (!only || !("String" in only))
      return this.fail(
        n,
        `unknown reference ${fields.map((f) => ("String" in f ? f.String.sval : undefined) ?? "*").join(".")}`,
      );
    const name = only.String.sval ?? "";
    const type = this.columns.get(name);
    if (!type) return this.fail(n, `unknown reference ${name}`);
    this.referenced.add(name);
    return { type, column: name, isConst: false, eval: (ctx) => ctx.get(name) };
  }

  private paramRef(n: ParamRef): Typed {
    const i = n.number ?? 0;
    const v = this.params[i - 1];
    if (v === undefined) return this.fail(n, `parameter $${i} was not provided`);
    const list = this.usedParams.get(i) ?? [];
    list.push({ location: (n.location ?? 0) - PREFIX.length, length: `$${i}`.length });
    this.usedParams.set(i, list);
    return { type: "unknown", unknownText: v, eval: () => v, isConst: true };
  }

  // --- type rules

  coerce(x: Typed, to: PgType, node: Located): Typed {
    if (x.type !== "unknown") return x;
    const text = x.unknownText;
    if (text === undefined) return { type: to, eval: () => null, isConst: true };
    let value: Value;
    try {
      value = parseText(to, text);
    } catch (e) {
      return this.fail(node, (e as Error).message);
    }
    return { type: to, eval: () => value, isConst: true };
  }

  /** Brings two operands to a common type (unknowns take the other side's type). */
  unify(a: Typed, b: Typed, node: Located & { name?: Node[] }): [Typed, Typed, PgType] {
    if (a.type === "unknown" && b.type === "unknown")
      return [this.coerce(a, TEXT, node), this.coerce(b, TEXT, node), TEXT];
    if (a.type === "unknown") return [this.coerce(a, b.type as PgType, node), b, b.type as PgType];
    if (b.type === "unknown") return [a, this.coerce(b, a.type, node), a.type];
    const ta = a.type;
    const tb = b.type;
    if (isNumeric(ta) && isNumeric(tb)) {
      const t =
        ta.base === "float" || tb.base === "float"
          ? FLOAT
          : ta.base === "numeric" || tb.base === "numeric"
            ? NUMERIC
            : INT;
      return [this.promote(a, t), this.promote(b, t), t];
    }
    if (isDateish(ta) && isDateish(tb) && (ta.base === "date") !== (tb.base === "date")) {
      const t = ta.base === "date" ? tb : ta;
      return [this.promote(a, t), this.promote(b, t), t];
    }
    if (isTextish(ta) && isTextish(tb) && (ta.base === "text" || tb.base === "text" || ta.name === tb.name))
      return [a, b, ta.base === "text" ? ta : tb];
    if (ta.base === "timestamp" && tb.base === "timestamptz" && ta.dims === tb.dims) return [a, b, tb];
    if (ta.base === "timestamptz" && tb.base === "timestamp" && ta.dims === tb.dims) return [a, b, ta];
    if (ta.base === tb.base && ta.dims === tb.dims && ta.base !== "other") return [a, b, ta];
    return this.fail(node, `operator does not exist: ${typeLabel(ta)} ${this.opName(node)} ${typeLabel(tb)}`);
  }

  /** Wraps an operand in an implicit promotion to `to` (int → numeric → float8, date → timestamp). */
  promote(x: Typed, to: PgType): Typed {
    if (x.type === "unknown") return x;
    const f = promotion(x.type, to);
    return f ? strict1(to, x, f) : x;
  }

  /**
   * Common type of ARRAY[…]/COALESCE/GREATEST/LEAST items: the first known type, widened by numeric
   * (int → numeric → float8) and date → timestamp promotions.
   */
  commonType(items: Typed[]): PgType {
    let t: PgType | undefined;
    const rank: Record<string, number> = { int: 1, numeric: 2, float: 3, date: 1, timestamp: 2, timestamptz: 3 };
    const family = (b: string) =>
      b === "int" || b === "numeric" || b === "float" ? "n" : b === "date" || b.startsWith("timestamp") ? "d" : b;
    for (const i of items) {
      if (i.type === "unknown") continue;
      if (!t) t = i.type;
      else if (
        t.dims === 0 &&
        i.type.dims === 0 &&
        family(t.base) === family(i.type.base) &&
        (rank[i.type.base] ?? 0) > (rank[t.base] ?? 0)
      )
        t = i.type;
    }
    return t ?? TEXT;
  }

  /** The operator's name of an A_Expr (`=`, `~~`, `pg_catalog.+`…). */
  opName(node: { name?: Node[] } | undefined): string {
    return node?.name?.map((n) => ("String" in n ? n.String.sval : undefined)).join(".") ?? "?";
  }

  asBool(x: Typed, node: Located): Typed {
    const c = this.coerce(x, BOOL, node);
    if (c.type === "unknown" || c.type.base !== "bool" || c.type.dims !== 0)
      this.fail(node, `argument of boolean expression must be type boolean, not type ${typeLabel(c.type as PgType)}`);
    return c;
  }

  /** The value of a constant expression (no column reference). */
  constValue(x: Typed): Value {
    return x.eval(new RowContext({}, this.columns));
  }

  constArrayOf(x: Typed): Value[] | undefined {
    if (!x.isConst) return undefined;
    try {
      const v = this.constValue(x);
      return Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  hintFor(kind: "eq" | "contains", col: Typed, values: Value[]): IndexHint[] | undefined {
    if (!col.column || col.type === "unknown") return undefined;
    if (!INDEXABLE_BASES.has(col.type.base)) return undefined;
    if (kind === "eq" && col.type.dims !== 0) return undefined;
    if (kind === "contains" && col.type.dims !== 1) return undefined;
    const keys = values.map(indexKeyOf);
    if (keys.length === 0 || keys.some((k) => k === undefined)) return undefined;
    return [{ column: col.column, kind, keys: kind === "contains" ? [keys[0]!] : (keys as string[]) }];
  }

  /**
   * jsonb compares by value (key order, number forms), bytea and other types by their own rules: none
   * of it is text equality of their output form, and §8 has no operator for them, so they are refused.
   */
  comparable(t: PgType, op: string, node: Located): void {
    if (UNCOMPARABLE_BASES.has(t.base))
      this.fail(
        node,
        `operator does not exist: ${typeLabel(t)} ${op} ${typeLabel(t)} ` +
          `(values of type ${typeLabel(t)} cannot be compared in a where clause)`,
      );
  }
}
