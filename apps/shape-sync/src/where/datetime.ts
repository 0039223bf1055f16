/**
 * Date/time arithmetic, text output and time zones of the where evaluator (§8). Values as in
 * values.ts: date = days since 1970-01-01, time = µs of the day, timestamp(tz) = µs since epoch
 * (UTC; the server's Postgres sessions run with TimeZone UTC, §9.4). Pure apart from Intl.
 */
import { ValueParseError } from "./errors.js";
import { Interval, USECS_PER_DAY, justifyHours, multiplyInterval, negateInterval, addIntervals } from "./interval.js";
import { Numeric } from "./numeric.js";
import type { BaseType } from "./values.js";

/** Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's days_from_civil; month 1-12). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

const daysInMonth = (y: number, m: number) =>
  m === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(m) ? 30 : 31;

/** Postgres timestamp_pl_interval: months first (day clamped to the month's end), then days, then µs. */
export function timestampPlusInterval(ts: number, iv: Interval): number {
  if (!Number.isFinite(ts)) return ts;
  let t = ts;
  if (iv.months !== 0) {
    const tod = ((t % USECS_PER_DAY) + USECS_PER_DAY) % USECS_PER_DAY;
    const [y, m, d] = civilFromDays((t - tod) / USECS_PER_DAY);
    const total = y * 12 + (m - 1) + iv.months;
    const ny = Math.floor(total / 12);
    const nm = total - ny * 12 + 1;
    t = daysFromCivil(ny, nm, Math.min(d, daysInMonth(ny, nm))) * USECS_PER_DAY + tod;
  }
  return t + iv.days * USECS_PER_DAY + iv.micros;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");
const fracOf = (us: number) => (us === 0 ? "" : "." + pad(us, 6).replace(/0+$/, ""));

export function formatTime(us: number): string {
  const s = Math.floor(us / 1_000_000);
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}${fracOf(us % 1_000_000)}`;
}

function ymd(days: number): [string, boolean] {
  const [y, m, d] = civilFromDays(days);
  const bc = y <= 0;
  return [`${pad(bc ? 1 - y : y, 4)}-${pad(m)}-${pad(d)}`, bc];
}

/** DateStyle ISO output. */
export function formatDate(days: number): string {
  if (!Number.isFinite(days)) return days > 0 ? "infinity" : "-infinity";
  const [s, bc] = ymd(days);
  return bc ? `${s} BC` : s;
}

/** DateStyle ISO output; timestamptz in the UTC session zone (`+00`). */
export function formatTimestamp(us: number, withZone: boolean): string {
  if (!Number.isFinite(us)) return us > 0 ? "infinity" : "-infinity";
  const tod = ((us % USECS_PER_DAY) + USECS_PER_DAY) % USECS_PER_DAY;
  const [s, bc] = ymd((us - tod) / USECS_PER_DAY);
  return `${s} ${formatTime(tod)}${withZone ? "+00" : ""}${bc ? " BC" : ""}`;
}

export class ZoneError extends ValueParseError {
  override name = "ZoneError";
}

type Zone = { fixed: number } | { fmt: Intl.DateTimeFormat };
const zones = new Map<string, Zone>();

/**
 * Resolves a time zone name for `timezone()` / `AT TIME ZONE`: `UTC`/`GMT`, IANA `Area/Location`
 * names (via Intl), and POSIX-style numeric offsets `+02`, `-03:30`, `UTC+2` — which, as in
 * Postgres, count hours *west* of Greenwich (`'+02'` is UTC−2). Other names (abbreviations such as
 * `CET`/`EST`, whose meaning in Postgres differs from the IANA zone of the same name) are rejected.
 */
export function resolveZone(name: string): Zone {
  const hit = zones.get(name);
  if (hit) return hit;
  let z: Zone;
  const off = /^(?:utc|gmt)?([+-])(\d{1,2})(?::?(\d{2}))?$/i.exec(name.trim());
  if (/^(utc|gmt)$/i.test(name.trim())) z = { fixed: 0 };
  else if (off) {
    const secs = Number(off[2]) * 3600 + Number(off[3] ?? 0) * 60;
    if (Number(off[2]) > 15 || Number(off[3] ?? 0) >= 60) throw new ZoneError(`time zone "${name}" not recognized`);
    z = { fixed: off[1] === "+" ? -secs : secs };
  } else if (name.includes("/")) {
    try {
      z = {
        fmt: new Intl.DateTimeFormat("en-US", {
          timeZone: name,
          hourCycle: "h23",
          year: "numeric",
          month: "numeric",
          day: "numeric",
          hour: "numeric",
          minute: "numeric",
          second: "numeric",
          era: "short",
        }),
      };
    } catch {
      throw new ZoneError(`time zone "${name}" not recognized`);
    }
  } else {
    throw new ZoneError(
      `time zone "${name}" is not supported by this server ` +
        "(use UTC, an IANA name like Europe/Paris, or an offset like +02)",
    );
  }
  if (zones.size > 500) zones.clear();
  zones.set(name, z);
  return z;
}

/** UTC offset in µs of a zone at a UTC instant (µs since epoch). */
function offsetAt(zone: Zone, utcUs: number): number {
  if ("fixed" in zone) return zone.fixed * 1_000_000;
  const ms = Math.floor(utcUs / 1000);
  if (!(Math.abs(ms) <= 8.64e15)) throw new ValueParseError("timestamp out of range");
  const parts: Record<string, string> = {};
  for (const p of zone.fmt.formatToParts(new Date(ms))) parts[p.type] = p.value;
  let y = Number(parts.year);
  if (parts.era === "BC" || parts.era === "B") y = 1 - y;
  const local =
    daysFromCivil(y, Number(parts.month), Number(parts.day)) * 86_400_000 +
    ((Number(parts.hour) * 60 + Number(parts.minute)) * 60 + Number(parts.second)) * 1000;
  return (local - (ms - (((ms % 1000) + 1000) % 1000))) * 1000;
}

/** timezone(zone, timestamptz) → timestamp: the wall-clock time in that zone. */
export function toLocal(zone: Zone, utcUs: number): number {
  if (!Number.isFinite(utcUs)) return utcUs;
  return utcUs + offsetAt(zone, utcUs);
}

/**
 * timezone(zone, timestamp) → timestamptz: the instant of a wall-clock time in that zone. Like
 * Postgres, a time skipped by a spring-forward transition uses the offset before it, and an
 * ambiguous fall-back time the offset after it.
 */
export function fromLocal(zone: Zone, localUs: number): number {
  if (!Number.isFinite(localUs)) return localUs;
  if ("fixed" in zone) return localUs - zone.fixed * 1_000_000;
  const before = offsetAt(zone, localUs - USECS_PER_DAY);
  const after = offsetAt(zone, localUs + USECS_PER_DAY);
  const tb = localUs - before;
  const ta = localUs - after;
  if (before === after) return tb;
  const okB = offsetAt(zone, tb) === before;
  const okA = offsetAt(zone, ta) === after;
  if (okA) return ta;
  if (okB) return tb;
  return tb;
}

export type ArithResult = { base: BaseType; name: string; fn: (l: any, r: any) => unknown };

const isTs = (b: BaseType) => b === "timestamp" || b === "timestamptz";
const num = (v: unknown) => (v instanceof Numeric ? v.toNumber() : Number(v));

/**
 * Date/time operators of §8: `date ± int`, `date − date`, `date + time`, `date|timestamp|timestamptz|time
 * ± interval`, `interval ± interval`, `timestamp − timestamp`, `time − time`, `interval * float8`.
 * Returns undefined when no such operator exists for these (already typed) operands.
 */
export function datetimeOp(op: string, a: BaseType, b: BaseType): ArithResult | undefined {
  const numberish = (t: BaseType) => t === "int" || t === "float" || t === "numeric";
  if (op === "+" || op === "-") {
    const s = op === "+" ? 1 : -1;
    if (a === "date" && b === "int") return { base: "date", name: "date", fn: (l, r) => l + s * Number(r) };
    if (a === "int" && b === "date" && s > 0) return { base: "date", name: "date", fn: (l, r) => r + Number(l) };
    if (a === "date" && b === "date" && s < 0)
      return {
        base: "int",
        name: "int4",
        fn: (l, r) => {
          if (!Number.isFinite(l) || !Number.isFinite(r)) throw new ValueParseError("cannot subtract infinite dates");
          return BigInt(l - r);
        },
      };
    if (a === "date" && b === "time" && s > 0)
      return {
        base: "timestamp",
        name: "timestamp",
        fn: (l, r) => (Number.isFinite(l) ? l * USECS_PER_DAY + r : l * 1),
      };
    if (a === "time" && b === "date" && s > 0)
      return {
        base: "timestamp",
        name: "timestamp",
        fn: (l, r) => (Number.isFinite(r) ? r * USECS_PER_DAY + l : r * 1),
      };
    const ivFor = (r: Interval) => (s > 0 ? r : negateInterval(r));
    if ((isTs(a) || a === "date") && b === "interval") {
      const base = a === "date" ? "timestamp" : a;
      return {
        base,
        name: base,
        fn: (l, r) => timestampPlusInterval(a === "date" ? (Number.isFinite(l) ? l * USECS_PER_DAY : l) : l, ivFor(r)),
      };
    }
    if (a === "interval" && (isTs(b) || b === "date") && s > 0) {
      const base = b === "date" ? "timestamp" : b;
      return {
        base,
        name: base,
        fn: (l, r) => timestampPlusInterval(b === "date" ? (Number.isFinite(r) ? r * USECS_PER_DAY : r) : r, l),
      };
    }
    const timePlus = (t: number, iv: Interval) => (((t + iv.micros) % USECS_PER_DAY) + USECS_PER_DAY) % USECS_PER_DAY;
    if (a === "time" && b === "interval") return { base: "time", name: "time", fn: (l, r) => timePlus(l, ivFor(r)) };
    if (a === "interval" && b === "time" && s > 0) return { base: "time", name: "time", fn: (l, r) => timePlus(r, l) };
    if (a === "interval" && b === "interval")
      return { base: "interval", name: "interval", fn: (l, r) => addIntervals(l, r, s) };
    if (s < 0 && (isTs(a) || a === "date") && (isTs(b) || b === "date") && (a !== "date" || b !== "date")) {
      const us = (v: number, t: BaseType) => (t === "date" && Number.isFinite(v) ? v * USECS_PER_DAY : v);
      return {
        base: "interval",
        name: "interval",
        fn: (l, r) => {
          const x = us(l, a);
          const y = us(r, b);
          if (!Number.isFinite(x) || !Number.isFinite(y))
            throw new ValueParseError("cannot subtract infinite timestamps");
          return justifyHours(new Interval(0, 0, x - y));
        },
      };
    }
    if (s < 0 && a === "time" && b === "time")
      return { base: "interval", name: "interval", fn: (l, r) => new Interval(0, 0, l - r) };
  }
  if (op === "*") {
    if (a === "interval" && numberish(b))
      return { base: "interval", name: "interval", fn: (l, r) => multiplyInterval(l, num(r)) };
    if (numberish(a) && b === "interval")
      return { base: "interval", name: "interval", fn: (l, r) => multiplyInterval(r, num(l)) };
  }
  return undefined;
}

/**
 * The type an unknown-typed literal takes next to a date/time operand, following Postgres' operator
 * resolution (`ts + '1 day'` is an interval, `ts - '2024-01-01'` a timestamp, `date + '…'` is
 * ambiguous). Undefined = not a date/time case.
 */
export function unknownPeer(op: string, known: BaseType, unknownOnRight: boolean): BaseType | "ambiguous" | undefined {
  if (known === "interval") return op === "*" ? "float" : "interval";
  if (!isTs(known) && known !== "date" && known !== "time") return undefined;
  if (op === "+") return known === "date" ? "ambiguous" : "interval";
  if (op === "-") return unknownOnRight ? known : known === "date" ? "date" : known;
  return undefined;
}
