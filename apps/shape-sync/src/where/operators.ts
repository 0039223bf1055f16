/**
 * Binary operators of where clauses (§8): comparisons (with the `col = const` index hint), arithmetic
 * on int/numeric/float8, date/time arithmetic, text concatenation and LIKE/ILIKE.
 */
import type { A_Expr } from "@pgsql/types";
import { arrayConcat } from "./arrays.js";
import type { AstCompiler } from "./ast-compiler.js";
import { checkTextCollation } from "./collation.js";
import { datetimeOp, unknownPeer } from "./datetime.js";
import { type Numeric, numericOp } from "./numeric.js";
import { BOOL, TEXT, strict2, type IndexHint, type Typed } from "./types.js";
import { compareValues, formatScalar, typeLabel, type PgType, type Value } from "./values.js";

export const COMPARISON_OPS: ReadonlySet<string> = new Set(["=", "<>", "!=", "<", ">", "<=", ">="]);
const ARITHMETIC_OPS: ReadonlySet<string> = new Set(["+", "-", "*", "/", "%", "^", "||"]);
const NUMERIC_OPS: ReadonlySet<string> = new Set(["+", "-", "*", "/", "%"]);
const DATETIME_BASES: ReadonlySet<string> = new Set(["date", "time", "timestamp", "timestamptz", "interval"]);

export const isArithmeticOp = (op: string) => ARITHMETIC_OPS.has(op);

/** The outcome of a comparison operator, from compareValues' sign. */
export function comparisonTest(op: string): (c: number) => boolean {
  switch (op) {
    case "=":
      return (c) => c === 0;
    case "<>":
    case "!=":
      return (c) => c !== 0;
    case "<":
      return (c) => c < 0;
    case ">":
      return (c) => c > 0;
    case "<=":
      return (c) => c <= 0;
    default:
      return (c) => c >= 0;
  }
}

export function comparison(c: AstCompiler, op: string, a: Typed, b: Typed, node: A_Expr): Typed {
  const [x, y, t] = c.unify(a, b, node);
  c.comparable(t, op, node);
  if (!["=", "<>", "!="].includes(op) && (t.dims > 0 || ["bool", "interval", "enum"].includes(t.base)))
    c.fail(node, `operator does not exist: ${typeLabel(t)} ${op} ${typeLabel(t)}`);
  checkTextCollation(c, op, [x, y], t, node);
  const test = comparisonTest(op);
  const ex = x.eval;
  const ey = y.eval;
  let hints: IndexHint[] | undefined;
  if (op === "=") {
    if (x.column && y.isConst) hints = c.hintFor("eq", x, [c.constValue(y)]);
    else if (y.column && x.isConst) hints = c.hintFor("eq", y, [c.constValue(x)]);
  }
  return {
    type: BOOL,
    isConst: x.isConst && y.isConst,
    hints,
    eval: (ctx) => {
      const l = ex(ctx);
      if (l === null) return null;
      const r = ey(ctx);
      if (r === null) return null;
      return test(compareValues(l, r));
    },
  };
}

export function arithmetic(c: AstCompiler, op: string, a: Typed, b: Typed, node: A_Expr): Typed {
  if (op === "||") return concat(c, a, b, node);
  const dt = datetimeArithmetic(c, op, a, b, node);
  if (dt) return dt;
  const [x, y, t] = c.unify(a, b, node);
  if (t.dims > 0 || (t.base !== "int" && t.base !== "float" && t.base !== "numeric"))
    c.fail(node, `operator does not exist: ${typeLabel(t)} ${op} ${typeLabel(t)}`);
  if (t.base === "numeric") {
    if (!NUMERIC_OPS.has(op)) c.fail(node, `operator ${op} is not supported for numeric`);
    const nop = op as "+" | "-" | "*" | "/" | "%";
    return strict2(t, x, y, (l, r) => numericOp(nop, l as Numeric, r as Numeric));
  }
  if (t.base === "int") {
    const viaFloat = floatArithmetic(op);
    const f = INT_ARITHMETIC[op] ?? ((p: bigint, q: bigint) => viaFloat(Number(p), Number(q)));
    return strict2(t, x, y, (l, r) => f(l as bigint, r as bigint));
  }
  const f = floatArithmetic(op);
  return strict2(t, x, y, (l, r) => f(Number(l), Number(r)));
}

/** int8 arithmetic; division by zero is null (the row does not match). `^` goes through float8, as in Postgres. */
const INT_ARITHMETIC: Record<string, (p: bigint, q: bigint) => Value> = {
  "+": (p, q) => p + q,
  "-": (p, q) => p - q,
  "*": (p, q) => p * q,
  "/": (p, q) => (q === 0n ? null : p / q),
  "%": (p, q) => (q === 0n ? null : p % q),
};

const FLOAT_ARITHMETIC: Record<string, (p: number, q: number) => Value> = {
  "+": (p, q) => p + q,
  "-": (p, q) => p - q,
  "*": (p, q) => p * q,
  "/": (p, q) => (q === 0 ? null : p / q),
  "^": (p, q) => p ** q,
};

const floatArithmetic = (op: string) => FLOAT_ARITHMETIC[op] ?? (() => null);

/** `text || text` (the other operand's text output for non-text scalars, like Postgres) and array concatenation. */
function concat(c: AstCompiler, a: Typed, b: Typed, node: A_Expr): Typed {
  const [x, y, t] =
    a.type !== "unknown" && a.type.dims > 0
      ? [a, c.coerce(b, a.type, node), a.type]
      : b.type !== "unknown" && b.type.dims > 0
        ? [c.coerce(a, b.type, node), b, b.type]
        : [c.coerce(a, TEXT, node), c.coerce(b, TEXT, node), TEXT];
  if (t.dims > 0) return arrayConcat(c, x, y, t, node);
  const tx = x.type as PgType;
  const ty = y.type as PgType;
  if (tx.base !== "text" && ty.base !== "text")
    c.fail(node, `operator does not exist: ${typeLabel(tx)} || ${typeLabel(ty)}`);
  const text = (t: PgType): ((v: Value) => string) => (t.dims === 0 ? (v) => formatScalar(t.base, v) : String);
  const fx = text(tx);
  const fy = text(ty);
  return strict2(TEXT, x, y, (l, r) => fx(l) + fy(r));
}

/** Date/time operators (§8), or undefined when neither operand is a date/time/interval. */
function datetimeArithmetic(c: AstCompiler, op: string, a: Typed, b: Typed, node: A_Expr): Typed | undefined {
  const isDt = (t: Typed["type"]) => t !== "unknown" && t.dims === 0 && DATETIME_BASES.has(t.base);
  if (!isDt(a.type) && !isDt(b.type)) return undefined;
  let x = a;
  let y = b;
  if (x.type === "unknown" || y.type === "unknown") {
    const known = (x.type === "unknown" ? y.type : x.type) as PgType;
    if (known.dims !== 0) return undefined;
    const peer = unknownPeer(op, known.base, y.type === "unknown");
    if (peer === "ambiguous") c.fail(node, `operator is not unique: ${typeLabel(known)} ${op} unknown`);
    if (peer === undefined) return undefined;
    const pt: PgType = peer === known.base ? known : { base: peer, dims: 0, name: peer === "float" ? "float8" : peer };
    if (x.type === "unknown") x = c.coerce(x, pt, node);
    else y = c.coerce(y, pt, node);
  }
  const ta = x.type as PgType;
  const tb = y.type as PgType;
  if (ta.dims !== 0 || tb.dims !== 0) return undefined;
  const r = datetimeOp(op, ta.base, tb.base);
  if (!r) return c.fail(node, `operator does not exist: ${typeLabel(ta)} ${op} ${typeLabel(tb)}`);
  const f = r.fn;
  return strict2({ base: r.base, dims: 0, name: r.name }, x, y, (l, rv) => f(l, rv) as Value);
}

export function like(c: AstCompiler, a: Typed, b: Typed, insensitive: boolean, negate: boolean, node: A_Expr): Typed {
  const x = c.coerce(a, TEXT, node);
  const y = c.coerce(b, TEXT, node);
  for (const t of [x.type, y.type])
    if (t === "unknown" || t.dims > 0 || (t.base !== "text" && t.base !== "enum"))
      c.fail(node, `operator does not exist: ${typeLabel(t as PgType)} ~~ text`);
  checkTextCollation(c, "~~", [x, y], TEXT, node);
  const cache = new Map<string, RegExp>();
  const toRegExp = (pattern: string) => {
    let re = cache.get(pattern);
    if (!re) cache.set(pattern, (re = likeRegExp(pattern, insensitive)));
    return re;
  };
  return strict2(BOOL, x, y, (l, r) => toRegExp(String(r)).test(String(l)) !== negate);
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** A LIKE pattern as a RegExp: `%` any run, `_` any one character, `\` escapes. */
function likeRegExp(pattern: string, insensitive: boolean): RegExp {
  let src = "";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "\\" && i + 1 < pattern.length) src += escapeRegExp(pattern[++i]!);
    else if (ch === "%") src += "[\\s\\S]*";
    else if (ch === "_") src += "[\\s\\S]";
    else src += escapeRegExp(ch);
  }
  return new RegExp(`^${src}$`, insensitive ? "i" : "");
}
