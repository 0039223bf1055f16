/**
 * Value conversions for explicit casts and implicit promotions in the where evaluator (§8), with
 * Postgres semantics, and the compilation of an explicit cast (`x::type`, `CAST(x AS type)`). A
 * conversion that Postgres does not have (or this server does not implement) is undefined, and the
 * compiler rejects it. The conversions are pure.
 */
import type { TypeName } from "@pgsql/types";
import type { AstCompiler } from "./ast-compiler.js";
import { strict1, type Located, type Typed } from "./types.js";
import { USECS_PER_DAY, Interval } from "./interval.js";
import { Numeric, numericToBigInt, roundNumeric } from "./numeric.js";
import {
  CASTABLE_TYPES,
  ValueParseError,
  formatScalar,
  parseText,
  typeLabel,
  type BaseType,
  type PgType,
  type Value,
} from "./values.js";

/** C `rint` (half to even), as Postgres' float → integer casts use. */
const rint = (x: number) => {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

const INT_RANGE: Record<string, [bigint, bigint]> = {
  int2: [-32768n, 32767n],
  smallint: [-32768n, 32767n],
  int4: [-2147483648n, 2147483647n],
  int: [-2147483648n, 2147483647n],
  integer: [-2147483648n, 2147483647n],
};
const INT_TYPE_LABEL: Record<string, string> = {
  int8: "bigint",
  bigint: "bigint",
  int2: "smallint",
  smallint: "smallint",
};

function checkInt(i: bigint, name: string): bigint {
  const [lo, hi] = INT_RANGE[name] ?? [-(2n ** 63n), 2n ** 63n - 1n];
  if (i < lo || i > hi) throw new ValueParseError(`${INT_TYPE_LABEL[name] ?? "integer"} out of range`);
  return i;
}

const tsToDate = (v: number) => (Number.isFinite(v) ? Math.floor(v / USECS_PER_DAY) : v);
const dateToTs = (v: number) => (Number.isFinite(v) ? v * USECS_PER_DAY : v);

/** Scalar conversion from one base type to another, or undefined when not supported. */
export function scalarConversion(from: BaseType, to: PgType): ((v: Value) => Value) | undefined {
  if (from === to.base) return (v) => v;
  if (to.base === "text") return (v) => formatScalar(from, v);
  if (from === "text" || from === "enum") return (v) => parseText(to, String(v));
  switch (`${from}>${to.base}`) {
    case "int>float":
      return (v) => Number(v);
    case "int>numeric":
      return (v) => Numeric.fromBigInt(v as bigint);
    case "int>bool":
      return (v) => v !== 0n;
    case "bool>int":
      return (v) => (v ? 1n : 0n);
    case "float>int":
      return (v) => {
        if (!Number.isFinite(v as number)) throw new ValueParseError(`${to.name} out of range`);
        return checkInt(BigInt(rint(v as number)), to.name);
      };
    case "float>numeric":
      return (v) => Numeric.fromFloat(v as number);
    case "numeric>float":
      return (v) => (v as Numeric).toNumber();
    case "numeric>int":
      return (v) => {
        const i = numericToBigInt(v as Numeric);
        if (i === undefined) throw new ValueParseError(`cannot convert ${(v as Numeric).toString()} to ${to.name}`);
        return checkInt(i, to.name);
      };
    case "date>timestamp":
    case "date>timestamptz":
      return (v) => dateToTs(v as number);
    case "timestamp>date":
    case "timestamptz>date":
      return (v) => tsToDate(v as number);
    case "timestamp>timestamptz":
    case "timestamptz>timestamp":
      return (v) => v; // the session time zone is UTC (§9.4)
    case "timestamp>time":
    case "timestamptz>time":
      return (v) => (((v as number) % USECS_PER_DAY) + USECS_PER_DAY) % USECS_PER_DAY;
    case "time>interval":
      return (v) => new Interval(0, 0, v as number);
  }
  return undefined;
}

/** Implicit promotions of operands to a common type (int → numeric → float8, date → timestamp). */
export function promotion(from: PgType, to: PgType): ((v: Value) => Value) | undefined {
  if (from.dims !== 0 || to.dims !== 0 || from.base === to.base) return undefined;
  const key = `${from.base}>${to.base}`;
  if (["int>numeric", "int>float", "numeric>float", "date>timestamp", "date>timestamptz"].includes(key))
    return scalarConversion(from.base, to);
  return undefined;
}

/**
 * Applies a cast's type modifiers: `numeric(p, s)` rounds to s digits (overflow is an error, as in
 * Postgres), `varchar(n)` truncates. Other modifiers are unsupported (undefined).
 */
export function typmodConversion(base: BaseType, typeName: string, mods: number[]): ((v: Value) => Value) | undefined {
  if (base === "numeric" && mods.length >= 1 && mods.length <= 2) {
    const [p, s = 0] = mods as [number, number?];
    if (p < 1 || p > 1000 || s < 0 || s > p) return undefined;
    return (v) => {
      const n = v as Numeric;
      if (n.special) {
        if (n.special === "nan") return n;
        throw new ValueParseError("numeric field overflow");
      }
      const r = roundNumeric(n, s);
      const abs = r.v < 0n ? -r.v : r.v;
      if (abs !== 0n && abs.toString().length - r.scale > p - s) throw new ValueParseError("numeric field overflow");
      return r;
    };
  }
  if (
    base === "text" &&
    (typeName === "varchar" || typeName === "character varying") &&
    mods.length === 1 &&
    mods[0]! > 0
  ) {
    const n = mods[0]!;
    return (v) => [...String(v)].slice(0, n).join("");
  }
  return undefined;
}

/** A type name's parts without `pg_catalog` (`int4`, `public.mood`). */
const typeNameOf = (t: TypeName) =>
  (t.names ?? [])
    .map((n) => ("String" in n ? n.String.sval : undefined))
    .filter((s) => s !== "pg_catalog")
    .join(".");

/** An explicit cast of a compiled operand to a §8 type, with its type modifiers. */
export function castTo(c: AstCompiler, x: Typed, typeNode: TypeName, node: Located): Typed {
  const tn = typeNameOf(typeNode);
  const base = CASTABLE_TYPES[tn];
  if (!base) return c.fail(node, `unsupported type ${tn}`);
  const dims = (typeNode.arrayBounds ?? []).length;
  const target: PgType = { base, dims, name: tn };
  let mod: ((v: Value) => Value) | undefined;
  if (typeNode.typmods) {
    const mods = typeNode.typmods.map((m) =>
      "A_Const" in m && m.A_Const.ival ? Number(m.A_Const.ival.ival ?? 0) : Number.NaN,
    );
    mod = mods.some(Number.isNaN) || dims > 0 ? undefined : typmodConversion(base, tn, mods);
    if (!mod) return c.fail(node, `type modifiers are not supported for type ${tn}`);
  }
  const withMod = (t: Typed): Typed => (mod ? strict1(target, t, mod) : t);
  if (x.type === "unknown") return withMod(c.coerce(x, target, node));
  const from = x.type;
  if (from.base === base && from.dims === dims)
    return withMod({ ...x, type: target, column: mod ? undefined : x.column });
  if (dims === 0 && from.dims === 0) {
    const conv = scalarConversion(from.base, target);
    if (!conv) return c.fail(node, `cannot cast type ${typeLabel(from)} to ${typeLabel(target)}`);
    return withMod(strict1(target, x, conv));
  }
  if (dims > 0 && from.dims > 0 && base === "text" && (from.base === "text" || from.base === "enum"))
    return { ...x, type: target, column: undefined };
  return c.fail(node, `cannot cast type ${typeLabel(from)} to ${typeLabel(target)}`);
}
