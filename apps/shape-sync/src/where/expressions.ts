/**
 * Logical and choice expressions of where clauses (§8): AND/OR/NOT (3-valued), IS [NOT] NULL,
 * IS [NOT] TRUE/FALSE/UNKNOWN, ARRAY[…], COALESCE, GREATEST and LEAST.
 */
import type { A_ArrayExpr, BoolExpr, BooleanTest, Node, NullTest } from "@pgsql/types";
import type { AstCompiler } from "./ast-compiler.js";
import { checkTextCollation } from "./collation.js";
import { BOOL, payloadOf, type IndexHint, type Located, type Typed } from "./types.js";
import { compareValues, type Value } from "./values.js";

export function compileBoolExpr(c: AstCompiler, n: BoolExpr): Typed {
  const args = (n.args ?? []).map((a) => c.asBool(c.compile(a), payloadOf(a)));
  const evals = args.map((a) => a.eval);
  if (n.boolop === "NOT_EXPR") {
    const e = evals[0]!;
    return {
      type: BOOL,
      isConst: args[0]!.isConst,
      eval: (ctx) => {
        const v = e(ctx);
        return v === null ? null : !v;
      },
    };
  }
  const isAnd = n.boolop === "AND_EXPR";
  // The index hints of a conjunction are those of its conjuncts (the matching index picks one).
  const hints: IndexHint[] | undefined = isAnd ? args.flatMap((a) => a.hints ?? []) : undefined;
  return {
    type: BOOL,
    isConst: args.every((a) => a.isConst),
    hints,
    eval: (ctx) => {
      let sawNull = false;
      for (const e of evals) {
        const v = e(ctx);
        if (v === null) sawNull = true;
        else if (v === !isAnd) return !isAnd;
      }
      return sawNull ? null : isAnd;
    },
  };
}

export function compileNullTest(c: AstCompiler, n: NullTest): Typed {
  const a = c.compile(n.arg!);
  const isNull = n.nulltesttype === "IS_NULL";
  return { type: BOOL, isConst: a.isConst, eval: (ctx) => (a.eval(ctx) === null) === isNull };
}

const BOOLEAN_TESTS: Record<NonNullable<BooleanTest["booltesttype"]>, (v: Value) => boolean> = {
  IS_TRUE: (v) => v === true,
  IS_NOT_TRUE: (v) => v !== true,
  IS_FALSE: (v) => v === false,
  IS_NOT_FALSE: (v) => v !== false,
  IS_UNKNOWN: (v) => v === null,
  IS_NOT_UNKNOWN: (v) => v !== null,
};

export function compileBooleanTest(c: AstCompiler, n: BooleanTest): Typed {
  const a = c.asBool(c.compile(n.arg!), n);
  const test = BOOLEAN_TESTS[n.booltesttype ?? "IS_NOT_UNKNOWN"];
  return { type: BOOL, isConst: a.isConst, eval: (ctx) => test(a.eval(ctx)) };
}

export function compileArray(c: AstCompiler, n: A_ArrayExpr): Typed {
  const items = (n.elements ?? []).map((x) => c.compile(x));
  const elemType = c.commonType(items);
  const evals = items.map((i) => c.promote(c.coerce(i, elemType, n), elemType).eval);
  return {
    type: { ...elemType, dims: elemType.dims + 1 },
    isConst: items.every((i) => i.isConst),
    eval: (ctx) => evals.map((e) => e(ctx)),
  };
}

/** COALESCE (the first non-null), GREATEST and LEAST (nulls ignored) over the items' common type. */
export function compileChoice(
  c: AstCompiler,
  args: Node[],
  kind: "coalesce" | "greatest" | "least",
  node: Located,
): Typed {
  const items = args.map((x) => c.compile(x));
  const t = c.commonType(items);
  const evals = items.map((i) => c.promote(c.coerce(i, t, node), t).eval);
  if (kind === "coalesce")
    return {
      type: t,
      isConst: false,
      eval: (ctx) => {
        for (const e of evals) {
          const v = e(ctx);
          if (v !== null) return v;
        }
        return null;
      },
    };
  checkTextCollation(c, "<", items, t, node);
  const sign = kind === "greatest" ? 1 : -1;
  return {
    type: t,
    isConst: false,
    eval: (ctx) => {
      let best: Value = null;
      for (const e of evals) {
        const v = e(ctx);
        if (v !== null && (best === null || sign * compareValues(v, best) > 0)) best = v;
      }
      return best;
    },
  };
}
