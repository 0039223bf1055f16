/**
 * Function calls and array subscripts of the where compiler (§8): text functions, `array_ndims`,
 * `justify_*`, `timezone` (also `AT TIME ZONE`, which libpg-query parses into `pg_catalog.timezone`),
 * type-input functions used as casts (`int4(x)`, `date(x)`, …), and `a[i]` / `a[lo:hi]`.
 */
import { fromLocal, resolveZone, toLocal } from "./datetime.js";
import { justifyDays, justifyHours, justifyInterval, type Interval } from "./interval.js";
import { arrayLowerBounds, typeLabel, type PgType, type Value } from "./values.js";
import type { A_Indirection, FuncCall, Node, TypeName } from "@pgsql/types";
import type { AstCompiler } from "./ast-compiler.js";
import { castTo } from "./casts.js";
import { INT, INTERVAL, TEXT, TIMESTAMP, TIMESTAMPTZ, payloadOf, strict1, type Located, type Typed } from "./types.js";

const TYPE_FUNCTIONS = new Set([
  "int2",
  "int4",
  "int8",
  "float4",
  "float8",
  "numeric",
  "bool",
  "uuid",
  "text",
  "date",
  "time",
  "timestamp",
  "timestamptz",
  "interval",
]);

const typeName = (name: string): TypeName => ({ names: [{ String: { sval: name } }] });

export function compileFuncCall(c: AstCompiler, n: FuncCall): Typed {
  if (n.agg_star || n.agg_distinct || n.agg_filter || n.over)
    return c.fail(n, "aggregation is not supported in this context");
  const fname = (n.funcname ?? [])
    .map((f) => ("String" in f ? f.String.sval : undefined))
    .filter((s) => s !== "pg_catalog")
    .join(".");
  const args = (n.args ?? []).map((x) => c.compile(x));
  if ((fname === "lower" || fname === "upper") && args.length === 1) {
    const up = fname === "upper";
    return strict1(TEXT, c.coerce(args[0]!, TEXT, n), (v) => (up ? String(v).toUpperCase() : String(v).toLowerCase()));
  }
  if (fname === "concat") {
    const evals = args.map((a) => c.coerce(a, TEXT, n).eval);
    return {
      type: TEXT,
      isConst: false,
      eval: (ctx) =>
        evals
          .map((e) => {
            const v = e(ctx);
            return v === null ? "" : String(v);
          })
          .join(""),
    };
  }
  if (fname === "array_ndims" && args.length === 1) {
    const a = args[0]!;
    // An empty array has no dimensions: NULL, like Postgres.
    return {
      type: INT,
      isConst: false,
      eval: (ctx) => {
        let v = a.eval(ctx);
        if (v === null) return null;
        let d = 0n;
        while (Array.isArray(v) && v.length > 0) {
          d++;
          v = (v as Value[])[0] ?? null;
        }
        return d === 0n ? null : d;
      },
    };
  }
  if ((fname === "justify_days" || fname === "justify_hours" || fname === "justify_interval") && args.length === 1) {
    const a = c.coerce(args[0]!, INTERVAL, n);
    if (a.type === "unknown" || a.type.base !== "interval" || a.type.dims !== 0)
      return c.fail(n, `function ${fname}(${typeLabel(a.type as PgType)}) does not exist`);
    const f = fname === "justify_days" ? justifyDays : fname === "justify_hours" ? justifyHours : justifyInterval;
    return strict1(INTERVAL, a, (v: Interval) => f(v));
  }
  if (fname === "timezone" && args.length === 2) return timezone(c, args[0]!, args[1]!, n);
  if (TYPE_FUNCTIONS.has(fname) && args.length === 1) return castTo(c, args[0]!, typeName(fname), n);
  return c.fail(n, `unknown or unsupported function ${fname}/${args.length}`);
}

function timezone(c: AstCompiler, zoneArg: Typed, tsArg: Typed, n: Located): Typed {
  const zone = c.coerce(zoneArg, TEXT, n);
  if (zone.type === "unknown" || zone.type.dims !== 0 || zone.type.base !== "text")
    return c.fail(
      n,
      `function timezone(${typeLabel(zone.type as PgType)}, …) is not supported (the zone must be text)`,
    );
  let ts = c.coerce(tsArg, TIMESTAMPTZ, n);
  if (ts.type !== "unknown" && ts.type.dims === 0 && ts.type.base === "date")
    ts = castTo(c, ts, typeName("timestamptz"), n);
  const t = ts.type as PgType;
  if (t.dims !== 0 || (t.base !== "timestamp" && t.base !== "timestamptz"))
    return c.fail(n, `function timezone(text, ${typeLabel(t)}) is not supported`);
  if (zone.isConst) {
    const z = c.constValue(zone);
    if (z !== null) {
      try {
        resolveZone(String(z));
      } catch (e) {
        return c.fail(n, (e as Error).message);
      }
    }
  }
  const toTz = t.base === "timestamp";
  return {
    type: toTz ? TIMESTAMPTZ : TIMESTAMP,
    isConst: zone.isConst && ts.isConst,
    eval: (ctx) => {
      const z = zone.eval(ctx);
      const v = ts.eval(ctx);
      if (z === null || v === null) return null;
      const resolved = resolveZone(String(z));
      return toTz ? fromLocal(resolved, v as number) : toLocal(resolved, v as number);
    },
  };
}

/**
 * `a[i][j]` (element, NULL when out of range) and `a[lo:hi]` slices (clamped; `{}` when empty),
 * 1-based like Postgres.
 */
export function compileIndirection(c: AstCompiler, n: A_Indirection): Typed {
  const arr = c.compile(n.arg!);
  const t = arr.type;
  if (t === "unknown" || t.dims === 0)
    return c.fail(
      undefined,
      `cannot subscript type ${t === "unknown" ? "unknown" : typeLabel(t)} because it does not support subscripting`,
    );
  const subs: { lo?: Typed; hi?: Typed; slice: boolean }[] = [];
  const asInt = (x: Node | undefined): Typed | undefined => {
    if (!x) return undefined;
    const e = c.coerce(c.compile(x), INT, payloadOf(x));
    if (e.type === "unknown" || e.type.base !== "int" || e.type.dims !== 0)
      return c.fail(payloadOf(x), `array subscript must have type integer`);
    return e;
  };
  for (const ind of n.indirection ?? []) {
    if (!("A_Indices" in ind))
      return c.fail(undefined, `${Object.keys(ind)[0]} indirection is not supported in this context`);
    const idx = ind.A_Indices;
    subs.push({ lo: asInt(idx.lidx), hi: asInt(idx.uidx), slice: Boolean(idx.is_slice) });
  }
  const anySlice = subs.some((s) => s.slice);
  const ev = arr.eval;
  if (!anySlice) {
    const idxEvals = subs.map((s) => s.hi!.eval);
    return {
      type: { ...t, dims: 0 },
      isConst: arr.isConst && subs.every((s) => s.hi!.isConst),
      eval: (ctx) => {
        const a = ev(ctx);
        if (a === null) return null;
        const lb = arrayLowerBounds.get(a as Value[]);
        let v: Value = a;
        for (let d = 0; d < idxEvals.length; d++) {
          const i = idxEvals[d]!(ctx);
          if (i === null || !Array.isArray(v)) return null;
          const k = Number(i as bigint) - (lb?.[d] ?? 1);
          if (k < 0 || k >= v.length) return null;
          v = v[k]!;
        }
        return Array.isArray(v) ? null : v;
      },
    };
  }
  return {
    type: t,
    isConst: false,
    eval: (ctx) => {
      const a = ev(ctx);
      if (a === null) return null;
      const lb = arrayLowerBounds.get(a as Value[]);
      const bounds: [number | undefined, number | undefined][] = [];
      for (const s of subs) {
        const lo = s.slice ? (s.lo ? s.lo.eval(ctx) : undefined) : 1n;
        const hi = s.hi ? s.hi.eval(ctx) : undefined;
        if (lo === null || hi === null) return null;
        bounds.push([
          lo === undefined ? undefined : Number(lo as bigint),
          hi === undefined ? undefined : Number(hi as bigint),
        ]);
      }
      let ndims = 0;
      for (let v: Value = a; Array.isArray(v) && v.length > 0; v = v[0]!) ndims++;
      if (bounds.length > ndims) return [];
      let empty = false;
      const slice = (v: Value[], d: number): Value[] => {
        if (d >= bounds.length) return v;
        const base = lb?.[d] ?? 1;
        const [lo, hi] = bounds[d]!;
        const from = Math.max(0, (lo ?? base) - base);
        const to = Math.min(v.length - 1, (hi ?? base + v.length - 1) - base);
        if (from > to) {
          empty = true;
          return [];
        }
        return v.slice(from, to + 1).map((e) => (Array.isArray(e) ? slice(e, d + 1) : e));
      };
      const out = slice(a as Value[], 0);
      if (empty) return [];
      return out;
    },
  };
}
