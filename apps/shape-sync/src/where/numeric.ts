/**
 * Exact `numeric` values for the where evaluator (§8): an unscaled bigint and a display scale, like
 * Postgres' NumericVar (value = v × 10^-scale), plus NaN and ±Infinity (Postgres ≥ 14). Pure.
 * Arithmetic follows Postgres' numeric.c: + and − use the larger scale, × the sum of scales,
 * ÷ the scale of `select_div_scale` rounded half away from zero, % the larger scale.
 */
import { ValueParseError } from "./errors.js";
export type NumericSpecial = "nan" | "inf" | "-inf";

export class Numeric {
  constructor(
    readonly v: bigint,
    readonly scale: number,
    readonly special?: NumericSpecial,
  ) {}

  static readonly NaN = new Numeric(0n, 0, "nan");
  static readonly INF = new Numeric(0n, 0, "inf");
  static readonly NEG_INF = new Numeric(0n, 0, "-inf");

  static fromBigInt(v: bigint): Numeric {
    return new Numeric(v, 0);
  }

  /** float8 → numeric, like Postgres' float8_numeric (`%.15g` then numeric input). */
  static fromFloat(x: number): Numeric {
    if (Number.isNaN(x)) return Numeric.NaN;
    if (x === Infinity) return Numeric.INF;
    if (x === -Infinity) return Numeric.NEG_INF;
    let s = x.toPrecision(15);
    const [mant, exp] = s.split("e");
    let m = mant!;
    if (m.includes(".")) m = m.replace(/0+$/, "").replace(/\.$/, "");
    s = exp === undefined ? m : `${m}e${exp}`;
    return parseNumeric(s)!;
  }

  toNumber(): number {
    if (this.special === "nan") return NaN;
    if (this.special === "inf") return Infinity;
    if (this.special === "-inf") return -Infinity;
    return Number(this.toString());
  }

  toString(): string {
    if (this.special === "nan") return "NaN";
    if (this.special === "inf") return "Infinity";
    if (this.special === "-inf") return "-Infinity";
    const neg = this.v < 0n;
    let digits = (neg ? -this.v : this.v).toString();
    if (this.scale > 0) {
      digits = digits.padStart(this.scale + 1, "0");
      digits = `${digits.slice(0, digits.length - this.scale)}.${digits.slice(digits.length - this.scale)}`;
    }
    return (neg ? "-" : "") + digits;
  }
}

const NUMERIC_RE = /^\s*([+-])?(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:e([+-]?\d+))?\s*$/i;
const pow10 = (n: number): bigint => 10n ** BigInt(n);

/** Postgres numeric input syntax; undefined when the text is not a numeric. */
export function parseNumeric(s: string): Numeric | undefined {
  const t = s.trim().toLowerCase();
  if (t === "nan") return Numeric.NaN;
  if (t === "infinity" || t === "+infinity" || t === "inf" || t === "+inf") return Numeric.INF;
  if (t === "-infinity" || t === "-inf") return Numeric.NEG_INF;
  const m = NUMERIC_RE.exec(s);
  if (!m) return undefined;
  const intPart = m[2] ?? "";
  const frac = m[3] ?? m[4] ?? "";
  const exp = m[5] === undefined ? 0 : Number(m[5]);
  if (!Number.isFinite(exp) || Math.abs(exp) > 1000) return undefined;
  let v = BigInt(intPart + frac || "0");
  let scale = frac.length - exp;
  if (scale < 0) {
    v *= pow10(-scale);
    scale = 0;
  }
  return new Numeric(m[1] === "-" ? -v : v, scale);
}

function align(a: Numeric, b: Numeric): [bigint, bigint, number] {
  const s = Math.max(a.scale, b.scale);
  return [a.v * pow10(s - a.scale), b.v * pow10(s - b.scale), s];
}

const rank = (x: Numeric) => (x.special === "nan" ? 2 : x.special === "inf" ? 1 : x.special === "-inf" ? -1 : 0);

/** Total order of Postgres numeric: -Infinity < finite < Infinity < NaN (NaN = NaN). */
export function compareNumeric(a: Numeric, b: Numeric): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== 0 || rb !== 0) return ra === rb ? 0 : ra < rb ? -1 : 1;
  const [x, y] = align(a, b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const sign = (x: Numeric): number =>
  x.special === "inf" ? 1 : x.special === "-inf" ? -1 : x.v > 0n ? 1 : x.v < 0n ? -1 : 0;
const infOf = (s: number) => (s > 0 ? Numeric.INF : Numeric.NEG_INF);

export class NumericDivisionByZero extends ValueParseError {
  override name = "NumericDivisionByZero";
}

/** + − × ÷ % of Postgres numeric. Division by zero throws NumericDivisionByZero. */
export function numericOp(op: "+" | "-" | "*" | "/" | "%", a: Numeric, b: Numeric): Numeric {
  if (a.special === "nan" || b.special === "nan") return Numeric.NaN;
  if (a.special || b.special) {
    const sa = sign(a);
    const sb = sign(b);
    switch (op) {
      case "+":
        if (a.special && b.special) return sa === sb ? a : Numeric.NaN;
        return a.special ? a : b;
      case "-":
        if (a.special && b.special) return sa !== sb ? a : Numeric.NaN;
        return a.special ? a : infOf(-sb);
      case "*":
        if (sa === 0 || sb === 0) return Numeric.NaN;
        return infOf(sa * sb);
      case "/":
        if (b.special) return a.special ? Numeric.NaN : new Numeric(0n, 0);
        if (sb === 0) throw new NumericDivisionByZero("division by zero");
        return infOf(sa * sb);
      case "%":
        if (a.special) return Numeric.NaN;
        return a;
    }
  }
  switch (op) {
    case "+": {
      const [x, y, s] = align(a, b);
      return new Numeric(x + y, s);
    }
    case "-": {
      const [x, y, s] = align(a, b);
      return new Numeric(x - y, s);
    }
    case "*":
      return new Numeric(a.v * b.v, a.scale + b.scale);
    case "%": {
      if (b.v === 0n) throw new NumericDivisionByZero("division by zero");
      const [x, y, s] = align(a, b);
      return new Numeric(x % y, s);
    }
    case "/": {
      if (b.v === 0n) throw new NumericDivisionByZero("division by zero");
      const rscale = selectDivScale(a, b);
      const k = rscale - a.scale + b.scale;
      const n = a.v * pow10(Math.max(0, k));
      const d = b.v * pow10(Math.max(0, -k));
      let q = n / d;
      const r = n % d;
      const absR = r < 0n ? -r : r;
      const absD = d < 0n ? -d : d;
      if (2n * absR >= absD) q += n < 0n !== d < 0n ? -1n : 1n;
      return new Numeric(q, rscale);
    }
  }
}

/** Weight and first digit of a nonzero value in Postgres' base-10000 representation. */
function weightAndFirstDigit(x: Numeric): [number, bigint] {
  if (x.v === 0n) return [0, 0n];
  const abs = x.v < 0n ? -x.v : x.v;
  const e10 = abs.toString().length - 1 - x.scale;
  const w = Math.floor(e10 / 4);
  const shift = x.scale + 4 * w;
  const first = shift >= 0 ? abs / pow10(shift) : abs * pow10(-shift);
  return [w, first];
}

/** Postgres numeric.c select_div_scale (NUMERIC_MIN_SIG_DIGITS 16, DEC_DIGITS 4). */
function selectDivScale(a: Numeric, b: Numeric): number {
  const [w1, f1] = weightAndFirstDigit(a);
  const [w2, f2] = weightAndFirstDigit(b);
  let qweight = w1 - w2;
  if (f1 <= f2) qweight--;
  let rscale = 16 - qweight * 4;
  rscale = Math.max(rscale, a.scale, b.scale, 0);
  return Math.min(rscale, 1000);
}

/** numeric → int8 (rounds half away from zero like Postgres); undefined for NaN/Infinity. */
export function numericToBigInt(x: Numeric): bigint | undefined {
  if (x.special) return undefined;
  if (x.scale === 0) return x.v;
  const d = pow10(x.scale);
  let q = x.v / d;
  const r = x.v % d;
  if (2n * (r < 0n ? -r : r) >= d) q += x.v < 0n ? -1n : 1n;
  return q;
}

/** Rounds to `scale` digits (half away from zero), for `numeric(p, s)` typmods. */
export function roundNumeric(x: Numeric, scale: number): Numeric {
  if (x.special || x.scale <= scale) return x.special ? x : new Numeric(x.v * pow10(scale - x.scale), scale);
  const d = pow10(x.scale - scale);
  let q = x.v / d;
  const r = x.v % d;
  if (2n * (r < 0n ? -r : r) >= d) q += x.v < 0n ? -1n : 1n;
  return new Numeric(q, scale);
}
