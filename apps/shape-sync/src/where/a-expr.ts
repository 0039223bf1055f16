/**
 * libpg-query's A_Expr node (§8): an operator (binary or prefix), LIKE/ILIKE, IS [NOT] DISTINCT FROM,
 * IN lists (with the `col IN (consts)` index hint), [NOT] BETWEEN [SYMMETRIC] and `op ANY/ALL (array)`.
 */
import type { A_Expr, Node } from "@pgsql/types";
import { arrayOp } from "./arrays.js";
import type { AstCompiler } from "./ast-compiler.js";
import { checkTextCollation } from "./collation.js";
import { negateInterval, type Interval } from "./interval.js";
import { COMPARISON_OPS, arithmetic, comparison, comparisonTest, isArithmeticOp, like } from "./operators.js";
import { BOOL, INT, TEXT, strict1, type IndexHint, type Typed } from "./types.js";
import { compareValues, type PgType, type Value } from "./values.js";

const ARRAY_OPS: ReadonlySet<string> = new Set(["@>", "<@", "&&"]);
const LIKE_OPS: ReadonlySet<string> = new Set(["~~", "~~*", "!~~", "!~~*"]);

export function compileAExpr(c: AstCompiler, n: A_Expr): Typed {
  const op = c.opName(n);
  switch (n.kind) {
    case "AEXPR_OP":
      return n.lexpr ? binaryOperator(c, op, n) : prefixOperator(c, op, n);
    case "AEXPR_LIKE":
    case "AEXPR_ILIKE":
      return like(c, c.compile(n.lexpr!), c.compile(n.rexpr!), n.kind === "AEXPR_ILIKE", op.startsWith("!"), n);
    case "AEXPR_DISTINCT":
    case "AEXPR_NOT_DISTINCT":
      return distinct(c, n, n.kind === "AEXPR_DISTINCT");
    case "AEXPR_IN":
      return inList(c, n, op === "<>");
    case "AEXPR_BETWEEN":
    case "AEXPR_NOT_BETWEEN":
    case "AEXPR_BETWEEN_SYM":
    case "AEXPR_NOT_BETWEEN_SYM":
      return between(c, n, n.kind.endsWith("_SYM"), n.kind.includes("NOT"));
    case "AEXPR_OP_ANY":
    case "AEXPR_OP_ALL":
      return anyAll(c, op, n, n.kind === "AEXPR_OP_ALL");
    default:
      return c.fail(n, `${String(n.kind).replace("AEXPR_", "")} expressions are not supported in this context`);
  }
}

function binaryOperator(c: AstCompiler, op: string, n: A_Expr): Typed {
  const a = c.compile(n.lexpr!);
  const b = c.compile(n.rexpr!);
  if (COMPARISON_OPS.has(op)) return comparison(c, op, a, b, n);
  if (ARRAY_OPS.has(op)) return arrayOp(c, op, a, b, n);
  if (isArithmeticOp(op)) return arithmetic(c, op, a, b, n);
  if (LIKE_OPS.has(op)) return like(c, a, b, op.includes("*"), op.startsWith("!"), n);
  return c.fail(n, `unknown or unsupported operator ${op}`);
}

/** `-x`, `+x` (intervals too) and `NOT x` written as an operator. */
function prefixOperator(c: AstCompiler, op: string, n: A_Expr): Typed {
  if (op === "NOT") return c.compile({ BoolExpr: { boolop: "NOT_EXPR", args: [n.rexpr!], location: n.location } });
  const a = c.compile(n.rexpr!);
  if (op !== "-" && op !== "+") return c.fail(n, `unknown or unsupported operator ${op}`);
  if (a.type !== "unknown" && a.type.dims === 0 && a.type.base === "interval")
    return op === "+" ? a : strict1(a.type, a, (v: Interval) => negateInterval(v));
  return arithmetic(c, op, { type: INT, isConst: true, eval: () => 0n }, a, n);
}

function distinct(c: AstCompiler, n: A_Expr, isDistinct: boolean): Typed {
  const [x, y, t] = c.unify(c.compile(n.lexpr!), c.compile(n.rexpr!), n);
  c.comparable(t, "IS DISTINCT FROM", n);
  checkTextCollation(c, "=", [x, y], t, n);
  return {
    type: BOOL,
    isConst: false,
    eval: (ctx) => {
      const l = x.eval(ctx);
      const r = y.eval(ctx);
      const same = l === null || r === null ? l === r : compareValues(l, r) === 0;
      return isDistinct ? !same : same;
    },
  };
}

const listItems = (n: A_Expr): Node[] => (n.rexpr && "List" in n.rexpr ? (n.rexpr.List.items ?? []) : []);

/** `x [NOT] IN (a, b, …)`: `=` per item, 3-valued; `col IN (consts)` is an index hint with every key. */
function inList(c: AstCompiler, n: A_Expr, negate: boolean): Typed {
  const a = c.compile(n.lexpr!);
  const cmps = listItems(n).map((item) => comparison(c, "=", a, c.compile(item), n));
  let hints: IndexHint[] | undefined;
  if (!negate && a.column && cmps.every((cmp) => cmp.hints?.length === 1))
    hints = [{ column: a.column, kind: "eq", keys: cmps.flatMap((cmp) => cmp.hints![0]!.keys) }];
  const evals = cmps.map((cmp) => cmp.eval);
  return {
    type: BOOL,
    isConst: false,
    hints,
    eval: (ctx) => {
      let sawNull = false;
      for (const e of evals) {
        const v = e(ctx);
        if (v === true) return !negate;
        if (v === null) sawNull = true;
      }
      return sawNull ? null : negate;
    },
  };
}

/** `x [NOT] BETWEEN [SYMMETRIC] lo AND hi`, as `x >= lo AND x <= hi` (either order when symmetric). */
function between(c: AstCompiler, n: A_Expr, symmetric: boolean, negate: boolean): Typed {
  const a = c.compile(n.lexpr!);
  const [lo, hi] = listItems(n).map((x) => c.compile(x)) as [Typed, Typed];
  const ge = comparison(c, ">=", a, lo, n).eval;
  const le = comparison(c, "<=", a, hi, n).eval;
  const ge2 = comparison(c, ">=", a, hi, n).eval;
  const le2 = comparison(c, "<=", a, lo, n).eval;
  const and = (p: Value, q: Value) => (p === false || q === false ? false : p === null || q === null ? null : true);
  return {
    type: BOOL,
    isConst: false,
    eval: (ctx) => {
      let v = and(ge(ctx), le(ctx));
      if (symmetric && v !== true) {
        const w = and(ge2(ctx), le2(ctx));
        v = w === true ? true : v === null || w === null ? null : false;
      }
      return v === null ? null : negate ? !v : v;
    },
  };
}

/** `x op ANY (array)` / `x op ALL (array)` over the array's elements (flattened), 3-valued. */
function anyAll(c: AstCompiler, op: string, n: A_Expr, all: boolean): Typed {
  const a = c.compile(n.lexpr!);
  const arr = c.compile(n.rexpr!);
  const arrayType: PgType =
    arr.type === "unknown" ? (a.type === "unknown" ? TEXT : { ...(a.type as PgType), dims: 1 }) : arr.type;
  const arrT = c.coerce(arr, arrayType, n);
  if (arrT.type === "unknown" || arrT.type.dims === 0)
    return c.fail(n, `op ANY/ALL (array) requires array on right side`);
  const elem: Typed = { type: { ...arrT.type, dims: 0 }, isConst: false, eval: () => null, collation: arrT.collation };
  const [x] = c.unify(a, elem, n);
  comparison(c, op, x, elem, n); // validates the operator for these types
  const test = comparisonTest(op);
  return {
    type: BOOL,
    isConst: false,
    eval: (ctx) => {
      const l = x.eval(ctx);
      const list = arrT.eval(ctx);
      if (list === null) return null;
      let sawNull = false;
      for (const e of (list as Value[]).flat(Infinity as 1) as Value[]) {
        if (l === null || e === null) {
          sawNull = true;
          continue;
        }
        const t = test(compareValues(l, e));
        if (all && !t) return false;
        if (!all && t) return true;
      }
      return sawNull ? null : all;
    },
  };
}
