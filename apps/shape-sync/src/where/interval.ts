/**
 * `interval` values for the where evaluator (§8), represented like Postgres: months, days and
 * microseconds kept apart. Input accepts the Postgres output style (`1 year 2 mons 3 days
 * 04:05:06.789`, `-1 days +02:00:00`), the usual unit words (`2 hours`, `1.5 days`, `1 day ago`,
 * `@ 1 day`), `HH:MM[:SS]` and ISO 8601 `P…T…`. Output is IntervalStyle `postgres`. Pure.
 */
import { ValueParseError } from "./errors.js";
export class Interval {
  constructor(
    readonly months: number,
    readonly days: number,
    readonly micros: number,
  ) {}
}

export const USECS_PER_DAY = 86_400_000_000;
const USECS_PER_SEC = 1_000_000;
const SECS_PER_DAY = 86_400;
const DAYS_PER_MONTH = 30;

export class IntervalParseError extends ValueParseError {
  override name = "IntervalParseError";
}

/** Postgres' interval_cmp_value: total microseconds with 1 month = 30 days, 1 day = 24 h (as bigint, exact). */
export function intervalKey(i: Interval): bigint {
  return BigInt(i.micros) + (BigInt(i.months) * 30n + BigInt(i.days)) * BigInt(USECS_PER_DAY);
}

export function compareIntervals(a: Interval, b: Interval): number {
  const x = intervalKey(a);
  const y = intervalKey(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

const UNITS: Record<string, "us" | "ms" | "s" | "min" | "h" | "d" | "w" | "mon" | "y" | "dec" | "c" | "mil"> = {};
const unit = (k: (typeof UNITS)[string], ...names: string[]) => names.forEach((n) => (UNITS[n] = k));
unit("us", "microsecond", "microseconds", "us", "usec", "usecs", "useconds");
unit("ms", "millisecond", "milliseconds", "ms", "msec", "msecs", "mseconds");
unit("s", "second", "seconds", "s", "sec", "secs");
unit("min", "minute", "minutes", "m", "min", "mins");
unit("h", "hour", "hours", "h", "hr", "hrs");
unit("d", "day", "days", "d");
unit("w", "week", "weeks", "w");
unit("mon", "month", "months", "mon", "mons");
unit("y", "year", "years", "y", "yr", "yrs");
unit("dec", "decade", "decades", "dec", "decs");
unit("c", "century", "centuries", "c", "cent");
unit("mil", "millennium", "millennia", "mil", "mils");

/** Accumulates fields like Postgres' DecodeInterval, cascading fractions down (never up). */
class Acc {
  months = 0;
  days = 0;
  /** Seconds as a float (fractions cascade here), converted with rint at the end. */
  secs = 0;
  add(kind: (typeof UNITS)[string], val: number): void {
    const whole = Math.trunc(val);
    const frac = val - whole;
    switch (kind) {
      case "us":
        this.secs += val / USECS_PER_SEC;
        break;
      case "ms":
        this.secs += val / 1000;
        break;
      case "s":
        this.secs += val;
        break;
      case "min":
        this.secs += val * 60;
        break;
      case "h":
        this.secs += val * 3600;
        break;
      case "d":
        this.days += whole;
        this.fractDays(frac);
        break;
      case "w":
        this.days += whole * 7;
        this.fractDays(frac * 7);
        break;
      case "mon":
        this.months += whole;
        this.fractDays(frac * DAYS_PER_MONTH);
        break;
      case "y":
        this.months += whole * 12 + rint(frac * 12);
        break;
      case "dec":
        this.months += whole * 120 + rint(frac * 120);
        break;
      case "c":
        this.months += whole * 1200 + rint(frac * 1200);
        break;
      case "mil":
        this.months += whole * 12000 + rint(frac * 12000);
        break;
    }
  }
  fractDays(fd: number): void {
    const d = Math.trunc(fd);
    this.days += d;
    this.secs += (fd - d) * SECS_PER_DAY;
  }
  result(negate: boolean): Interval {
    const micros = Math.round(this.secs * USECS_PER_SEC);
    const s = negate ? -1 : 1;
    return new Interval(s * this.months + 0, s * this.days + 0, s * micros + 0);
  }
}

const TIME_FIELD = /^([+-])?(\d+):(\d+)(?::(\d+(?:\.\d*)?))?$/;
const NUM_UNIT = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))([a-z]*)$/;

/** ISO 8601 durations: `P[nY][nM][nW][nD][T[nH][nM][nS]]`, each n signed and possibly fractional. */
const ISO_FIELD = "([+-]?\\d+(?:\\.\\d+)?)";
const ISO_DURATION = new RegExp(
  `^P(?:${ISO_FIELD}Y)?(?:${ISO_FIELD}M)?(?:${ISO_FIELD}W)?(?:${ISO_FIELD}D)?` +
    `(?:T(?:${ISO_FIELD}H)?(?:${ISO_FIELD}M)?(?:${ISO_FIELD}S)?)?$`,
  "i",
);

function parseIso(s: string): Interval | undefined {
  const m = ISO_DURATION.exec(s);
  if (!m || s.toUpperCase() === "P" || s.toUpperCase().endsWith("T")) return undefined;
  const acc = new Acc();
  const kinds = ["y", "mon", "w", "d", "h", "min", "s"] as const;
  kinds.forEach((k, i) => {
    if (m[i + 1] !== undefined) acc.add(k, Number(m[i + 1]));
  });
  return acc.result(false);
}

/** Parses interval text; throws IntervalParseError with Postgres' message. */
export function parseInterval(text: string): Interval {
  const fail = (): never => {
    throw new IntervalParseError(`invalid input syntax for type interval: "${text}"`);
  };
  let s = text.trim().toLowerCase();
  if (s.startsWith("p")) return parseIso(text.trim()) ?? fail();
  if (s.startsWith("@")) s = s.slice(1).trim();
  let tokens = s.split(/\s+/).filter((t) => t !== "");
  let ago = false;
  if (tokens[tokens.length - 1] === "ago") {
    ago = true;
    tokens = tokens.slice(0, -1);
  }
  // Glue "1 day" / "1day" / "+2 hours" into number+unit tokens.
  const acc = new Acc();
  let seen = false;
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    const tm = TIME_FIELD.exec(tok);
    if (tm) {
      const sg = tm[1] === "-" ? -1 : 1;
      acc.secs += sg * (Number(tm[2]) * 3600 + Number(tm[3]) * 60 + Number(tm[4] ?? 0));
      seen = true;
      continue;
    }
    const nm = NUM_UNIT.exec(tok);
    if (!nm) return fail();
    let u = nm[2]!;
    if (u === "" && i + 1 < tokens.length && /^[a-z]+$/.test(tokens[i + 1]!)) u = tokens[++i]!;
    const kind = u === "" ? "s" : UNITS[u];
    if (!kind) return fail();
    const val = Number(nm[1]);
    if (!Number.isFinite(val)) return fail();
    acc.add(kind, val);
    seen = true;
  }
  if (!seen) return fail();
  const r = acc.result(ago);
  if (!Number.isSafeInteger(r.micros) || Math.abs(r.months) > 2 ** 31 - 1 || Math.abs(r.days) > 2 ** 31 - 1)
    throw new IntervalParseError(`interval out of range`);
  return r;
}

function part(out: string[], state: { zero: boolean; before: boolean }, value: number, unitName: string): void {
  if (value === 0) return;
  out.push(
    `${state.zero ? "" : " "}${state.before && value > 0 ? "+" : ""}${value} ${unitName}${value !== 1 ? "s" : ""}`,
  );
  state.before = value < 0;
  state.zero = false;
}

/** IntervalStyle `postgres` output (EncodeInterval). */
export function formatInterval(i: Interval): string {
  const out: string[] = [];
  const state = { zero: true, before: false };
  part(out, state, Math.trunc(i.months / 12) + 0, "year");
  part(out, state, (i.months % 12) + 0, "mon");
  part(out, state, i.days, "day");
  if (state.zero || i.micros !== 0) {
    const neg = i.micros < 0;
    const abs = Math.abs(i.micros);
    const h = Math.floor(abs / 3_600_000_000);
    const m = Math.floor((abs % 3_600_000_000) / 60_000_000);
    const sec = Math.floor((abs % 60_000_000) / USECS_PER_SEC);
    const us = abs % USECS_PER_SEC;
    const frac = us === 0 ? "" : "." + String(us).padStart(6, "0").replace(/0+$/, "");
    const two = (n: number) => String(n).padStart(2, "0");
    out.push(`${state.zero ? "" : " "}${neg ? "-" : state.before ? "+" : ""}${two(h)}:${two(m)}:${two(sec)}${frac}`);
  }
  return out.join("");
}

export const addIntervals = (a: Interval, b: Interval, sign = 1): Interval =>
  new Interval(a.months + sign * b.months, a.days + sign * b.days, a.micros + sign * b.micros);

export const negateInterval = (a: Interval): Interval => new Interval(-a.months + 0, -a.days + 0, -a.micros + 0);

const tsRound = (x: number) => Math.round(x * 1e6) / 1e6;
/** C `rint`: round half to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Postgres interval_mul (interval * float8), cascading fractional months/days down. */
export function multiplyInterval(span: Interval, factor: number): Interval {
  const monthD = span.months * factor;
  const dayD = span.days * factor;
  if (Number.isNaN(monthD) || Math.abs(monthD) > 2 ** 31 || Number.isNaN(dayD) || Math.abs(dayD) > 2 ** 31)
    throw new IntervalParseError("interval out of range");
  const month = Math.trunc(monthD);
  let day = Math.trunc(dayD);
  const monthRemainderDays = tsRound((span.months * factor - month) * DAYS_PER_MONTH);
  let secRemainder = tsRound(
    (span.days * factor - day + monthRemainderDays - Math.trunc(monthRemainderDays)) * SECS_PER_DAY,
  );
  if (Math.abs(secRemainder) >= SECS_PER_DAY) {
    day += Math.trunc(secRemainder / SECS_PER_DAY);
    secRemainder -= Math.trunc(secRemainder / SECS_PER_DAY) * SECS_PER_DAY;
  }
  day += Math.trunc(monthRemainderDays);
  const time = rint(span.micros * factor + secRemainder * USECS_PER_SEC);
  if (!Number.isFinite(time)) throw new IntervalParseError("interval out of range");
  return new Interval(month + 0, day + 0, time + 0);
}

export function justifyHours(i: Interval): Interval {
  let days = i.days + Math.trunc(i.micros / USECS_PER_DAY);
  let time = i.micros % USECS_PER_DAY;
  if (days > 0 && time < 0) {
    time += USECS_PER_DAY;
    days--;
  } else if (days < 0 && time > 0) {
    time -= USECS_PER_DAY;
    days++;
  }
  return new Interval(i.months, days + 0, time + 0);
}

export function justifyDays(i: Interval): Interval {
  let months = i.months + Math.trunc(i.days / DAYS_PER_MONTH);
  let days = i.days % DAYS_PER_MONTH;
  if (months > 0 && days < 0) {
    days += DAYS_PER_MONTH;
    months--;
  } else if (months < 0 && days > 0) {
    days -= DAYS_PER_MONTH;
    months++;
  }
  return new Interval(months + 0, days + 0, i.micros);
}

export function justifyInterval(i: Interval): Interval {
  let time = i.micros;
  let day = i.days;
  let month = i.months;
  const wholeDay = Math.trunc(time / USECS_PER_DAY);
  time -= wholeDay * USECS_PER_DAY;
  day += wholeDay;
  const wholeMonth = Math.trunc(day / DAYS_PER_MONTH);
  day -= wholeMonth * DAYS_PER_MONTH;
  month += wholeMonth;
  if (month > 0 && (day < 0 || (day === 0 && time < 0))) {
    day += DAYS_PER_MONTH;
    month--;
  } else if (month < 0 && (day > 0 || (day === 0 && time > 0))) {
    day -= DAYS_PER_MONTH;
    month++;
  }
  if (day > 0 && time < 0) {
    time += USECS_PER_DAY;
    day--;
  } else if (day < 0 && time > 0) {
    time -= USECS_PER_DAY;
    day++;
  }
  return new Interval(month + 0, day + 0, time + 0);
}
