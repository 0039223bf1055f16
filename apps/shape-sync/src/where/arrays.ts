/** Array operators of where clauses (§8): `@>`, `<@`, `&&` (with index hints for `col @> const`) and `||`. */
import { compareValues, typeLabel, type PgType, type Value } from "./values.js";
import { BOOL, type IndexHint, type Typed } from "./types.js";
import type { A_Expr } from "@pgsql/types";
import type { AstCompiler } from "./ast-compiler.js";
import { checkTextCollation } from "./collation.js";

export function arrayOp(c: AstCompiler, op: string, a: Typed, b: Typed, node: A_Expr): Typed {
  const [x, y, t] = c.unify(a, b, node);
  if (t.dims === 0) c.fail(node, `operator does not exist: ${typeLabel(t)} ${op} ${typeLabel(t)}`);
  c.comparable(t, op, node);
  checkTextCollation(c, "=", [x, y], t, node);
  const flat = (v: Value[]): Value[] => v.flatMap((e) => (Array.isArray(e) ? flat(e) : [e]));
  const contains = (big: Value[], small: Value[]) => {
    const fb = flat(big);
    return flat(small).every((e) => e !== null && fb.some((f) => f !== null && compareValues(f, e) === 0));
  };
  let hints: IndexHint[] | undefined;
  if (op === "@>" && x.column && y.isConst) {
    const arr = c.constArrayOf(y);
    if (arr && flat(arr).length > 0 && flat(arr).every((e) => e !== null)) hints = c.hintFor("contains", x, flat(arr));
  }
  const f =
    op === "@>"
      ? (l: Value[], r: Value[]) => contains(l, r)
      : op === "<@"
        ? (l: Value[], r: Value[]) => contains(r, l)
        : (l: Value[], r: Value[]) =>
            flat(l).some((e) => e !== null && flat(r).some((g) => g !== null && compareValues(e, g) === 0));
  return {
    type: BOOL,
    isConst: x.isConst && y.isConst,
    hints,
    eval: (ctx) => {
      const l = x.eval(ctx);
      const r = y.eval(ctx);
      if (l === null || r === null) return null;
      return f(l as Value[], r as Value[]);
    },
  };
}

/** `array || array`, `array || element`, `element || array` (Postgres: a NULL array side yields the other side). */
export function arrayConcat(c: AstCompiler, x: Typed, y: Typed, t: PgType, node: A_Expr): Typed {
  const isArray = (v: Typed) => v.type !== "unknown" && v.type.dims > 0;
  const scalar = !isArray(x) ? x : !isArray(y) ? y : undefined;
  if (scalar && (scalar.type === "unknown" || scalar.type.base !== t.base || t.dims !== 1))
    c.fail(node, `operator does not exist: ${typeLabel(x.type as PgType)} || ${typeLabel(y.type as PgType)}`);
  const isConst = x.isConst && y.isConst;
  if (scalar === y)
    return {
      type: t,
      isConst,
      eval: (ctx) => {
        const l = x.eval(ctx) as Value[] | null;
        const e = y.eval(ctx);
        return l === null ? [e] : [...l, e];
      },
    };
  if (scalar === x)
    return {
      type: t,
      isConst,
      eval: (ctx) => {
        const e = x.eval(ctx);
        const r = y.eval(ctx) as Value[] | null;
        return r === null ? [e] : [e, ...r];
      },
    };
  return {
    type: t,
    isConst,
    eval: (ctx) => {
      const l = x.eval(ctx) as Value[] | null;
      const r = y.eval(ctx) as Value[] | null;
      if (l === null) return r;
      if (r === null) return l;
      return [...l, ...r];
    },
  };
}
