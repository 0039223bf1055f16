/**
 * Postgres text form → in-process values for where evaluation (§8, §9.3). Pure.
 * Integers are bigint, floats are number, numeric is an exact Numeric, intervals are Interval
 * {months, days, micros}, timestamps are µs since epoch (number), dates are days since epoch,
 * times µs of the day, arrays are JS arrays.
 */
import { Interval, type IntervalParseError, compareIntervals, formatInterval, parseInterval } from "./interval.js";
import { Numeric, compareNumeric, parseNumeric } from "./numeric.js";
import { formatDate, formatTime, formatTimestamp } from "./datetime.js";
export type BaseType =
  | "bool"
  | "int"
  | "float"
  | "numeric"
  | "text"
  | "uuid"
  | "date"
  | "time"
  | "timestamp"
  | "timestamptz"
  | "interval"
  | "jsonb"
  | "bytea"
  | "enum"
  | "other";

export interface PgType {
  base: BaseType;
  /** 0 for scalars. */
  dims: number;
  /** Postgres type name of the (element) type, for messages. */
  name: string;
}

export type Value = null | boolean | bigint | number | string | Numeric | Interval | Value[];

export { ValueParseError } from "./errors.js";
import { ValueParseError } from "./errors.js";

const TYPNAME_TO_BASE: Record<string, BaseType> = {
  bool: "bool",
  int2: "int",
  int4: "int",
  int8: "int",
  float4: "float",
  float8: "float",
  numeric: "numeric",
  text: "text",
  varchar: "text",
  bpchar: "text",
  name: "text",
  uuid: "uuid",
  date: "date",
  time: "time",
  timestamp: "timestamp",
  timestamptz: "timestamptz",
  interval: "interval",
  jsonb: "jsonb",
  bytea: "bytea",
};

/** Cast targets accepted in where clauses (§8). */
export const CASTABLE_TYPES: Record<string, BaseType> = {
  ...TYPNAME_TO_BASE,
  int: "int",
  integer: "int",
  smallint: "int",
  bigint: "int",
  boolean: "bool",
  real: "float",
  float: "float",
  "double precision": "float",
  decimal: "numeric",
  "character varying": "text",
  character: "text",
  char: "text",
};

export function baseOfTypname(typname: string, isEnum: boolean): BaseType {
  if (isEnum) return "enum";
  return TYPNAME_TO_BASE[typname] ?? "other";
}

export const typeLabel = (t: PgType) => t.name + "[]".repeat(t.dims);

const TRUE_WORDS = new Set(["t", "true", "yes", "y", "on", "1"]);
const FALSE_WORDS = new Set(["f", "false", "no", "n", "off", "0"]);
const UUID_RE = /^\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?$/i;
const TS_RE =
  /^(\d{4,})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6})\d*)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const TIME_RE = /^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/;

function micros(frac: string | undefined): number {
  return frac ? Number(frac.padEnd(6, "0")) : 0;
}

function parseTimestamp(s: string, withZone: boolean): number {
  const text = s.trim();
  if (text === "infinity") return Number.POSITIVE_INFINITY;
  if (text === "-infinity") return Number.NEGATIVE_INFINITY;
  const m = TS_RE.exec(text);
  if (!m)
    throw new ValueParseError(
      `invalid input syntax for type ${withZone ? "timestamp with time zone" : "timestamp"}: "${s}"`,
    );
  const ms = Date.UTC(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4] ?? 0),
    Number(m[5] ?? 0),
    Number(m[6] ?? 0),
  );
  let us = ms * 1000 + micros(m[7]);
  const zone = m[8];
  if (withZone && zone && zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0);
    us -= sign * offsetMin * 60_000_000;
  }
  return us;
}

export function parseScalar(base: BaseType, s: string, typeName: string = base): Value {
  switch (base) {
    case "bool": {
      const w = s.trim().toLowerCase();
      if (TRUE_WORDS.has(w)) return true;
      if (FALSE_WORDS.has(w)) return false;
      throw new ValueParseError(`invalid input syntax for type boolean: "${s}"`);
    }
    case "int": {
      const t = s.trim();
      if (!/^[+-]?\d+$/.test(t)) throw new ValueParseError(`invalid input syntax for type ${typeName}: "${s}"`);
      return BigInt(t);
    }
    case "float": {
      const t = s.trim();
      const n = t === "Infinity" ? Infinity : t === "-Infinity" ? -Infinity : t === "NaN" ? NaN : Number(t);
      if (t === "" || (Number.isNaN(n) && t !== "NaN"))
        throw new ValueParseError(`invalid input syntax for type ${typeName}: "${s}"`);
      return n;
    }
    case "numeric": {
      const n = parseNumeric(s);
      if (!n) throw new ValueParseError(`invalid input syntax for type numeric: "${s}"`);
      return n;
    }
    case "interval":
      try {
        return parseInterval(s);
      } catch (e) {
        throw new ValueParseError((e as IntervalParseError).message);
      }
    case "uuid":
      if (!UUID_RE.test(s.trim())) throw new ValueParseError(`invalid input syntax for type uuid: "${s}"`);
      return s
        .trim()
        .replace(/[{}-]/g, "")
        .toLowerCase()
        .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, "$1-$2-$3-$4-$5");
    case "timestamp":
      return parseTimestamp(s, false);
    case "timestamptz":
      return parseTimestamp(s, true);
    case "date":
      return Math.floor(parseTimestamp(s.trim().slice(0, 10), false) / 86_400_000_000);
    case "time": {
      const m = TIME_RE.exec(s.trim());
      if (!m) throw new ValueParseError(`invalid input syntax for type time: "${s}"`);
      return ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3] ?? 0)) * 1_000_000 + micros(m[4]);
    }
    default:
      // char(n): trailing spaces are insignificant (comparisons, LIKE and the cast to text ignore them).
      return typeName === "bpchar" ? s.replace(/ +$/, "") : s;
  }
}

/** Parses a Postgres array literal (`{a,"b c",NULL,{1,2}}`) into nested arrays of element strings. */
export function parseArrayLiteral(s: string): Array<string | null | unknown[]> {
  let i = 0;
  const text = s.trim().replace(/^\[[^\]]*\](\[[^\]]*\])*=/, "");
  const fail = () => new ValueParseError(`malformed array literal: "${s}"`);
  function parseLevel(): Array<string | null | unknown[]> {
    if (text[i] !== "{") throw fail();
    i++;
    const out: Array<string | null | unknown[]> = [];
    if (text[i] === "}") {
      i++;
      return out;
    }
    for (;;) {
      while (text[i] === " ") i++;
      if (text[i] === "{") out.push(parseLevel());
      else if (text[i] === '"') {
        i++;
        let v = "";
        while (i < text.length && text[i] !== '"') {
          if (text[i] === "\\") i++;
          v += text[i++];
        }
        if (text[i] !== '"') throw fail();
        i++;
        out.push(v);
      } else {
        let v = "";
        while (i < text.length && text[i] !== "," && text[i] !== "}") {
          if (text[i] === "\\") i++;
          v += text[i++];
        }
        v = v.trim();
        out.push(v.toUpperCase() === "NULL" ? null : v);
      }
      while (text[i] === " ") i++;
      if (text[i] === ",") {
        i++;
        continue;
      }
      if (text[i] === "}") {
        i++;
        return out;
      }
      throw fail();
    }
  }
  const result = parseLevel();
  if (i !== text.length) throw fail();
  return result;
}

/** Lower bounds of arrays whose text had explicit dimensions (`[0:1]={a,b}`); others start at 1. */
export const arrayLowerBounds = new WeakMap<Value[], number[]>();

export function parseText(type: PgType, s: string): Value {
  if (type.dims === 0) return parseScalar(type.base, s, type.name);
  const convert = (items: Array<string | null | unknown[]>): Value[] =>
    items.map((it) =>
      it === null
        ? null
        : Array.isArray(it)
          ? convert(it as Array<string | null | unknown[]>)
          : parseScalar(type.base, it, type.name),
    );
  const out = convert(parseArrayLiteral(s));
  const dims = /^\s*((?:\[[+-]?\d+:[+-]?\d+\])+)\s*=/.exec(s);
  if (dims)
    arrayLowerBounds.set(
      out,
      [...dims[1]!.matchAll(/\[([+-]?\d+):/g)].map((m) => Number(m[1])),
    );
  return out;
}

/** Canonical string for the matching index (only for types whose equality is string equality of this form). */
export function indexKeyOf(value: Value): string | undefined {
  if (value === null) return undefined;
  if (typeof value === "bigint") return `i${value}`;
  if (typeof value === "boolean") return value ? "t" : "f";
  if (typeof value === "string") return `s${value}`;
  return undefined;
}

export const INDEXABLE_BASES: ReadonlySet<BaseType> = new Set(["int", "text", "uuid", "enum", "bool"]);

/**
 * Code point order (= UTF-8 byte order, what Postgres' C collation uses). JS `<` compares UTF-16 code
 * units, which puts astral characters (surrogate pairs) before U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

export function compareValues(a: Value, b: Value): number {
  if (a instanceof Interval && b instanceof Interval) return compareIntervals(a, b);
  if (a instanceof Numeric || b instanceof Numeric) {
    if (typeof a === "number" || typeof b === "number")
      return compareValues(a instanceof Numeric ? a.toNumber() : a, b instanceof Numeric ? b.toNumber() : b);
    const x = typeof a === "bigint" ? Numeric.fromBigInt(a) : a;
    const y = typeof b === "bigint" ? Numeric.fromBigInt(b) : b;
    if (x instanceof Numeric && y instanceof Numeric) return compareNumeric(x, y);
  }
  if (typeof a === "number" || typeof b === "number") {
    const x = Number(a);
    const y = Number(b);
    if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;
    if (Number.isNaN(y)) return -1;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === "bigint" && typeof b === "bigint") return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "boolean" && typeof b === "boolean") return a === b ? 0 : a ? 1 : -1;
  if (typeof a === "string" && typeof b === "string") return compareCodePoints(a, b);
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareValues(a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (a === null) return b === null ? 0 : 1;
  if (b === null) return -1;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

export function valuesEqual(a: Value, b: Value): boolean {
  return compareValues(a, b) === 0;
}

/** Postgres text output of a scalar value of the given base type (for `::text` casts). */
export function formatScalar(base: BaseType, v: Value): string {
  if (v instanceof Numeric || v instanceof Interval) return v instanceof Interval ? formatInterval(v) : v.toString();
  if (typeof v === "number") {
    switch (base) {
      case "date":
        return formatDate(v);
      case "time":
        return formatTime(v);
      case "timestamp":
        return formatTimestamp(v, false);
      case "timestamptz":
        return formatTimestamp(v, true);
      case "float":
        return formatFloat(v);
    }
  }
  return String(v);
}

/** float8 output like Postgres (shortest round-trip digits; exponent form below 1e-4 and from 1e15). */
export function formatFloat(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (!Number.isFinite(v)) return v > 0 ? "Infinity" : "-Infinity";
  if (v === 0) return Object.is(v, -0) ? "-0" : "0";
  const [mant, e] = v.toExponential().split("e") as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 15) return `${mant}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
  return String(v);
}
