/**
 * Intervals, date/time arithmetic and time zones of the where evaluator (§8). Every expected value
 * was checked against Postgres 15 with TimeZone UTC (the server's session setting, §9.4).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parseSync } from "libpg-query";
import { compileWhere, loadWhereParser, WhereError, RowContext, type ColumnType } from "../src/where/where-clause.js";
import { AstCompiler } from "../src/where/ast-compiler.js";
import { castTo } from "../src/where/casts.js";
import { TEXT } from "../src/where/types.js";

const T = (base: ColumnType["base"], name: string, dims = 0): ColumnType => ({ base, name, dims });
const cols = new Map<string, ColumnType>([
  ["ts", T("timestamp", "timestamp")],
  ["tz", T("timestamptz", "timestamptz")],
  ["d", T("date", "date")],
  ["t", T("time", "time")],
  ["iv", T("interval", "interval")],
  ["f", T("float", "float8")],
  ["zone", T("text", "text")],
]);
const row = {
  ts: "2024-01-31 10:30:00",
  tz: "2024-03-10 06:30:00+00",
  d: "2024-01-31",
  t: "23:30:00",
  iv: "1 mon 2 days 03:00:00",
  f: "0.1",
  zone: "America/New_York",
};

beforeAll(() => loadWhereParser());

/** The expression's value as Postgres text (its `::text`), evaluated in-process. */
function txt(expr: string, r: Record<string, string | null> = row): string | null {
  const stmt = parseSync(`SELECT 1 WHERE ${expr}`).stmts![0]!.stmt!;
  const ast = "SelectStmt" in stmt ? stmt.SelectStmt.whereClause! : undefined;
  const c = new AstCompiler(cols, []);
  const typed = castTo(c, c.compile(ast!), { names: [{ String: { sval: "text" } }] }, undefined);
  expect(typed.type).toEqual(TEXT);
  return typed.eval(new RowContext(r, cols)) as string | null;
}
const ev = (where: string, r: Record<string, string | null> = row, params: string[] = []) =>
  compileWhere(where, cols, params).evaluate(r);
const err = (w: string) => {
  try {
    compileWhere(w, cols);
  } catch (e) {
    expect(e).toBeInstanceOf(WhereError);
    return (e as Error).message;
  }
  throw new Error("expected an error");
};

describe("interval values", () => {
  it("parses the postgres output style and the usual input forms, and prints like Postgres", () => {
    expect(txt("iv")).toBe("1 mon 2 days 03:00:00");
    expect(txt("'1 year 2 mons 3 days 04:05:06.789'::interval")).toBe("1 year 2 mons 3 days 04:05:06.789");
    expect(txt("'-1 days +02:00:00'::interval")).toBe("-1 days +02:00:00");
    expect(txt("'00:00:00'::interval")).toBe("00:00:00");
    expect(txt("'3 days 04:00'::interval")).toBe("3 days 04:00:00");
    expect(txt("'1.5 days'::interval")).toBe("1 day 12:00:00");
    expect(txt("'2 weeks 1.5 hours'::interval")).toBe("14 days 01:30:00");
    expect(txt("'1.05 years'::interval")).toBe("1 year 1 mon");
    expect(txt("'-1:30'::interval")).toBe("-01:30:00");
    expect(txt("'1 day ago'::interval")).toBe("-1 days");
    expect(txt("'@ 2 hours 30 minutes'::interval")).toBe("02:30:00");
    expect(txt("'10'::interval")).toBe("00:00:10");
    expect(txt("'P1Y2M3DT4H5M6.5S'::interval")).toBe("1 year 2 mons 3 days 04:05:06.5");
    expect(txt("-iv")).toBe("-1 mons -2 days -03:00:00");
    expect(txt("interval '1 day' + interval '-25 hours'")).toBe("1 day -25:00:00");
    expect(ev("iv = $1", { ...row, iv: "not an interval" }, ["1 day"])).toBe(null);
    expect(err("iv = 'soon'")).toMatch(/invalid input syntax for type interval: "soon"/);
  });

  it("compares intervals by their normalised total (1 mon = 30 days, 1 day = 24 h), = and <> only", () => {
    expect(ev("interval '1 day' = interval '24 hours'")).toBe(true);
    expect(ev("interval '1 mon' = interval '30 days'")).toBe(true);
    expect(ev("iv = interval '32 days 03:00:00'")).toBe(true);
    expect(ev("iv <> '1 mon 2 days 3 hours'")).toBe(false);
    expect(ev("iv = '1 mon 2 days 3 hours 1 microsecond'")).toBe(false);
    expect(ev("'1 year 2 mons 3 days 04:05:06.789'::interval = interval '14 mons 3 days 14706.789 seconds'")).toBe(
      true,
    );
    expect(ev("iv = '1 day'", { ...row, iv: null })).toBe(null);
    expect(err("iv < interval '1 day'")).toMatch(/operator does not exist: interval < interval/);
  });

  it("multiplies by float8 like interval_mul, cascading fractions down", () => {
    expect(txt("interval '1 mon 1 day' * -1.333")).toBe("-1 mons -11 days -07:45:07.2");
    expect(txt("interval '1 mon' * 0.5")).toBe("15 days");
    expect(txt("interval '1 mon' * 1.5")).toBe("1 mon 15 days");
    expect(txt("interval '1 day' * 2.5")).toBe("2 days 12:00:00");
    expect(txt("interval '1 hour' * 0.1")).toBe("00:06:00");
    expect(txt("2 * iv")).toBe("2 mons 4 days 06:00:00");
    expect(txt("iv * f")).toBe("3 days 05:06:00");
    expect(txt("iv * 1.5")).toBe("1 mon 18 days 04:30:00");
    expect(err("iv / 2")).toMatch(/operator does not exist: interval \/ int8/);
  });

  it("justifies days, hours and both", () => {
    expect(txt("justify_days(interval '35 days')")).toBe("1 mon 5 days");
    expect(txt("justify_days(interval '-35 days')")).toBe("-1 mons -5 days");
    expect(txt("justify_days(interval '65 days 3 hours')")).toBe("2 mons 5 days 03:00:00");
    expect(txt("justify_hours(interval '27 hours')")).toBe("1 day 03:00:00");
    expect(txt("justify_hours(interval '1 day -27 hours')")).toBe("-03:00:00");
    expect(txt("justify_hours(interval '-50 hours')")).toBe("-2 days -02:00:00");
    expect(txt("justify_interval(interval '1 mon -1 hour')")).toBe("29 days 23:00:00");
    expect(txt("justify_interval(interval '-35 days 2 hours')")).toBe("-1 mons -4 days -22:00:00");
    expect(txt("justify_days(iv)", { ...row, iv: null })).toBe(null);
    expect(err("justify_days(5)")).toMatch(/justify_days\(int8\) does not exist/);
  });
});

describe("date/time arithmetic", () => {
  it("adds intervals to dates, timestamps and times, clamping to the month's end", () => {
    expect(txt("d + interval '1 mon'")).toBe("2024-02-29 00:00:00");
    expect(txt("d - interval '1 mon'")).toBe("2023-12-31 00:00:00");
    expect(txt("ts + interval '1 mon'")).toBe("2024-02-29 10:30:00");
    expect(txt("'2024-03-31'::date + interval '1 mon'")).toBe("2024-04-30 00:00:00");
    expect(txt("'2023-01-31 12:00'::timestamp + interval '1 mon 1 day'")).toBe("2023-03-01 12:00:00");
    expect(txt("'2024-02-29'::date + interval '1 year'")).toBe("2025-02-28 00:00:00");
    expect(txt("'2024-02-29'::date - interval '1 year'")).toBe("2023-02-28 00:00:00");
    expect(txt("ts - interval '1 day 2 hours'")).toBe("2024-01-30 08:30:00");
    expect(txt("tz + iv")).toBe("2024-04-12 09:30:00+00");
    expect(txt("ts + '1 day'")).toBe("2024-02-01 10:30:00");
    expect(txt("t + iv")).toBe("02:30:00");
    expect(txt("time '23:30' + interval '1 hour'")).toBe("00:30:00");
    expect(txt("time '00:15' - interval '30 minutes'")).toBe("23:45:00");
    expect(txt("iv + iv")).toBe("2 mons 4 days 06:00:00");
    expect(txt("iv - interval '1 year'")).toBe("-11 mons +2 days 03:00:00");
    expect(ev("ts + interval '1 day' > '2024-02-01'")).toBe(true);
  });

  it("subtracts timestamps into hour-justified intervals, and does date ± int, date − date, date + time", () => {
    expect(txt("ts - '2024-01-01'")).toBe("30 days 10:30:00");
    expect(txt("timestamp '2024-01-01 00:00' - timestamp '2023-12-30 12:00:00.5'")).toBe("1 day 11:59:59.5");
    expect(txt("timestamptz '2024-01-01 00:00+00' - timestamptz '2024-01-01 05:00+02'")).toBe("-03:00:00");
    expect(txt("ts - tz")).toBe("-38 days -20:00:00");
    expect(txt("d + 3")).toBe("2024-02-03");
    expect(txt("date '2024-01-01' - 1")).toBe("2023-12-31");
    expect(txt("date '2024-03-01' - date '2024-02-01'")).toBe("29");
    expect(txt("date '2024-01-31' + time '10:00:30.25'")).toBe("2024-01-31 10:00:30.25");
    expect(ev("d < ts")).toBe(true);
    expect(ev("d = ts::date")).toBe(true);
    expect(txt("d::timestamp")).toBe("2024-01-31 00:00:00");
    expect(ev("'a' || iv = 'a1 mon 2 days 03:00:00' AND ts || '!' = '2024-01-31 10:30:00!' AND f || '' = '0.1'")).toBe(
      true,
    );
    expect(err("d || t = 'x'")).toMatch(/operator does not exist: date \|\| time/);
    expect(ev("'infinity'::timestamp + interval '1 day' = 'infinity'")).toBe(true);
    expect(err("d + '1 day'")).toMatch(/operator is not unique: date \+ unknown/);
    expect(err("ts + 1")).toMatch(/operator does not exist: timestamp \+ int8/);
  });
});

describe("time zones", () => {
  it("converts with IANA zones, across DST transitions like Postgres", () => {
    expect(txt("timezone('Europe/Paris', timestamptz '2024-07-01 00:00+00')")).toBe("2024-07-01 02:00:00");
    expect(txt("timezone('Europe/Paris', timestamp '2024-07-01 00:00')")).toBe("2024-06-30 22:00:00+00");
    expect(txt("timezone('America/New_York', tz)")).toBe("2024-03-10 01:30:00");
    expect(txt("timezone(zone, tz)")).toBe("2024-03-10 01:30:00");
    expect(txt("timezone('America/New_York', ts)")).toBe("2024-01-31 15:30:00+00");
    // 02:30 does not exist that day (spring forward): the offset before the transition is used.
    expect(txt("timezone('America/New_York', timestamp '2024-03-10 02:30')")).toBe("2024-03-10 07:30:00+00");
    // 01:30 happens twice (fall back): the offset after the transition is used.
    expect(txt("timezone('America/New_York', timestamp '2024-11-03 01:30')")).toBe("2024-11-03 06:30:00+00");
    expect(txt("timezone('Europe/Paris', timestamp '2024-03-31 02:30')")).toBe("2024-03-31 01:30:00+00");
    expect(txt("timezone('Europe/Paris', timestamp '2024-10-27 02:30')")).toBe("2024-10-27 01:30:00+00");
    expect(txt("timezone('Australia/Lord_Howe', timestamp '2024-10-06 02:15')")).toBe("2024-10-05 15:45:00+00");
    expect(txt("timezone('Europe/Paris', timestamptz '1900-01-01 00:00+00')")).toBe("1900-01-01 00:09:21");
    expect(txt("timezone('europe/paris', tz)")).toBe("2024-03-10 07:30:00");
    expect(txt("timezone('Asia/Kathmandu', tz)")).toBe("2024-03-10 12:15:00");
    expect(txt("timestamptz '2024-07-01 12:00+00' AT TIME ZONE 'Asia/Tokyo'")).toBe("2024-07-01 21:00:00");
    expect(txt("timestamp '2024-07-01 12:00' AT TIME ZONE 'Asia/Tokyo'")).toBe("2024-07-01 03:00:00+00");
    expect(txt("timezone('Asia/Kolkata', d)")).toBe("2024-01-31 05:30:00");
    expect(ev("timezone(zone, tz) = '2024-03-10 01:30'", { ...row, zone: null })).toBe(null);
    expect(ev("timezone(zone, tz) = '2024-03-10 01:30'", { ...row, zone: "Not/AZone" })).toBe(null);
  });

  it("accepts UTC and POSIX-style offsets (hours west of Greenwich), rejects other names", () => {
    expect(txt("timezone('UTC', timestamp '2024-07-01 00:00')")).toBe("2024-07-01 00:00:00+00");
    expect(txt("timezone('+02', timestamptz '2024-01-01 00:00+00')")).toBe("2023-12-31 22:00:00");
    expect(txt("timezone('UTC+2', tz)")).toBe("2024-03-10 04:30:00");
    expect(txt("timezone('UTC-05:30', timestamptz '2024-01-01 00:00+00')")).toBe("2024-01-01 05:30:00");
    expect(err("timezone('CET', tz) > ts")).toMatch(/time zone "CET" is not supported/);
    expect(err("timezone('Mars/Olympus', tz) > ts")).toMatch(/time zone "Mars\/Olympus" not recognized/);
    expect(err("timezone(interval '1 hour', tz) > ts")).toMatch(/zone must be text/);
  });
});
