import { beforeAll, describe, expect, it } from "vitest";
import { compileWhere, loadWhereParser, WhereError, type ColumnType } from "../src/where/where-clause.js";
import { MatchIndex } from "../src/where/match-index.js";

const T = (base: ColumnType["base"], name: string, dims = 0): ColumnType => ({ base, name, dims });
const cols = new Map<string, ColumnType>([
  ["id", T("text", "text")],
  ["env", T("text", "text")],
  ["n", T("int", "int4")],
  ["f", T("float", "float8")],
  ["ok", T("bool", "bool")],
  ["tags", T("text", "text", 1)],
  ["createdAt", T("timestamp", "timestamp")],
  ["u", T("uuid", "uuid")],
  ["status", T("enum", "TaskRunStatus")],
  ["num", T("numeric", "numeric")],
  ["a", T("int", "int4", 1)],
  ["m", T("int", "int4", 2)],
  ["j", T("jsonb", "jsonb")],
  ["b", T("bytea", "bytea")],
  ["inet", T("other", "inet")],
]);

beforeAll(() => loadWhereParser());

const ev = (where: string, row: Record<string, string | null>, params: string[] = []) =>
  compileWhere(where, cols, params).evaluate(row);

describe("where evaluator", () => {
  it("compares with 3-valued logic", () => {
    expect(ev("n = 5", { n: "5" })).toBe(true);
    expect(ev("n = 5", { n: null })).toBe(null);
    expect(ev("n = 5 OR env = 'x'", { n: null, env: "x" })).toBe(true);
    expect(ev("n = 5 AND env = 'x'", { n: null, env: "y" })).toBe(false);
    expect(ev("NOT (n = 5)", { n: null })).toBe(null);
    expect(ev("n > 4.5", { n: "5" })).toBe(true);
    expect(ev("n IS NULL", { n: null })).toBe(true);
    expect(ev("n IS DISTINCT FROM 3", { n: null })).toBe(true);
    expect(ev("n BETWEEN 1 AND 5", { n: "5" })).toBe(true);
    expect(ev("n NOT IN (1, 2)", { n: "3" })).toBe(true);
    expect(ev("n IN (1, NULL)", { n: "3" })).toBe(null);
    expect(ev("ok", { ok: "t" })).toBe(true);
    expect(ev("ok IS NOT TRUE", { ok: null })).toBe(true);
    expect(ev("n + 1 = 6 AND n * 2 = 10 AND n / 2 = 2", { n: "5" })).toBe(true);
  });

  it("handles text, like, arrays, casts, params and timestamps", () => {
    expect(ev("env LIKE 'pro%'", { env: "prod" })).toBe(true);
    expect(ev("env ILIKE 'PRO_'", { env: "prod" })).toBe(true);
    expect(ev("lower(env) = 'prod'", { env: "PROD" })).toBe(true);
    expect(ev("env || '-' || id = 'a-b'", { env: "a", id: "b" })).toBe(true);
    expect(ev(`tags @> ARRAY['x']`, { tags: "{x,y}" })).toBe(true);
    expect(ev(`tags @> $1::text[]`, { tags: "{x,y}" }, ["{y,z}"])).toBe(false);
    expect(ev(`tags && '{z,y}'`, { tags: "{x,y}" })).toBe(true);
    expect(ev(`tags <@ ARRAY['x','y','z']`, { tags: '{x,"y"}' })).toBe(true);
    expect(ev(`'x' = ANY(tags)`, { tags: "{x,y}" })).toBe(true);
    expect(ev(`n::text = '5'`, { n: "5" })).toBe(true);
    expect(ev(`status = 'COMPLETED'`, { status: "COMPLETED" })).toBe(true);
    expect(ev(`status::text IN ('A', 'B')`, { status: "B" })).toBe(true);
    expect(ev(`"createdAt" > $1`, { createdAt: "2024-01-15 10:30:00.5" }, ["2024-01-15T10:30:00.000Z"])).toBe(true);
    expect(ev(`"createdAt" > $1`, { createdAt: "2024-01-15 10:29:59" }, ["2024-01-15T10:30:00.000Z"])).toBe(false);
    expect(ev(`u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'`, { u: "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11" })).toBe(true);
    expect(ev(`coalesce(env, 'none') = 'none'`, { env: null })).toBe(true);
  });

  it("rejects what is outside the subset, naming it, with the spec's locations", () => {
    const err = (w: string, p: string[] = []) => {
      try {
        compileWhere(w, cols, p);
      } catch (e) {
        expect(e).toBeInstanceOf(WhereError);
        return (e as Error).message;
      }
      throw new Error("expected an error");
    };
    expect(err("1 x 1")).toBe(`At location 17: syntax error at or near "x"`);
    expect(err("nope = 1")).toBe("At location 0: unknown reference nope");
    expect(err("env ~ 'a'")).toMatch(/unsupported operator ~/);
    expect(err("now() > '2020-01-01'")).toMatch(/unsupported function now/);
    expect(err("n::money = 1")).toMatch(/unsupported type money/);
    expect(err("id IN (SELECT 1)")).toMatch(/SubLink/);
    expect(err("id = $2", ["a"])).toMatch(/parameter \$2 was not provided/);
    expect(err("n = 'abc'")).toMatch(/invalid input syntax for type int4/);
    expect(err("n")).toMatch(/boolean/);
    expect(err("count(*) > 1")).toMatch(/aggregation/);
    // jsonb compares by value, bytea and other types by their own rules: not by their text form.
    expect(err(`j = '{"a":1}'`)).toMatch(
      /operator does not exist: jsonb = jsonb \(values of type jsonb cannot be compared/,
    );
    expect(err("j IS DISTINCT FROM NULL")).toMatch(/jsonb IS DISTINCT FROM jsonb/);
    expect(err("b = '\\x00FF'")).toMatch(/bytea = bytea/);
    expect(err("inet IN ('10.0.0.1')")).toMatch(/inet = inet/);
    expect(ev("j IS NULL", { j: null })).toBe(true);
  });

  it("inlines params into the snapshot SQL and keys shapes by structure", () => {
    const a = compileWhere(`"runtimeEnvironmentId" = $1`.replace('"runtimeEnvironmentId"', "env"), cols, ["o'k"]);
    expect(a.sql).toBe(`env = 'o''k'`);
    expect(compileWhere("env   =   'x'", cols).key).toBe(compileWhere("env = 'x'", cols).key);
    expect(compileWhere("env = $1", cols, ["x"]).key).not.toBe(compileWhere("env = $1", cols, ["y"]).key);
  });
});

describe("numeric", () => {
  const num = { num: "12345678901234567890.123", n: "7", f: "0.1" };
  it("compares exactly, with numeric literals typed numeric like Postgres", () => {
    expect(ev("num = 12345678901234567890.123", num)).toBe(true);
    expect(ev("num > 12345678901234567890.12", num)).toBe(true);
    expect(ev("num > 12345678901234567890.5", num)).toBe(false);
    expect(ev("num = 0.1", { num: "0.1" })).toBe(true);
    expect(ev("num = 0.1", { num: "0.10000000000000000001" })).toBe(false);
    expect(ev("num = $1", { num: "1.50" }, ["1.5"])).toBe(true);
    expect(ev("num = 1e3", { num: "1000" })).toBe(true);
    expect(ev("0.1 + 0.2 = 0.3", {})).toBe(true);
    expect(ev("0.1::float8 + 0.2::float8 = 0.3", {})).toBe(false);
    expect(ev("n > 6.99999999999999999", num)).toBe(true);
    expect(ev("num IN (1, 12345678901234567890.123)", num)).toBe(true);
    expect(ev("'NaN'::numeric > 1e300", {})).toBe(true);
    expect(ev("num = 1", { num: "abc" })).toBe(null);
    expect(ev("num > 1", { num: null })).toBe(null);
  });

  it("does + - * / % exactly with Postgres' result scales; mixed with float8 it is float8", () => {
    expect(ev("num + 0.877 = 12345678901234567891", num)).toBe(true);
    expect(ev("(num * 2.5)::text = '30864197253086419725.3075'", num)).toBe(true);
    expect(ev("(-num)::text = '-12345678901234567890.123'", num)).toBe(true);
    expect(ev("(1 / 3.0)::text = '0.33333333333333333333'", {})).toBe(true);
    expect(ev("(100 / 3.0)::text = '33.3333333333333333'", {})).toBe(true);
    expect(ev("(10 / 4.0)::text = '2.5000000000000000'", {})).toBe(true);
    expect(ev("(num / 3)::text = '4115226300411522630.041'", num)).toBe(true);
    expect(ev("(-7.5 % 2)::text = '-1.5'", {})).toBe(true);
    expect(ev("(12345678901234567890.5 * 2)::text = '24691357802469135781.0'", {})).toBe(true);
    expect(ev("10 / 4 = 2", {})).toBe(true);
    expect(ev("n / 2.0 = 3.5", num)).toBe(true);
    expect(ev("f = 0.1", num)).toBe(true);
    expect(ev("(num::float8)::text = '1.2345678901234567e+19'", num)).toBe(true);
    expect(ev("('Infinity'::numeric - 'Infinity'::numeric)::text = 'NaN'", {})).toBe(true);
    expect(ev("num / 0 = 1", num)).toBe(null);
    expect(ev("greatest(n, 2.5) + 1 = 8 AND greatest(n, 7.5) + 1 = 8.5", num)).toBe(true);
    expect(ev("coalesce(NULL, 1, 2.5) * 2 = 2 AND ARRAY[1, 2.5] = '{1,2.5}' AND 7.0 = ANY(ARRAY[1, 7])", {})).toBe(
      true,
    );
    expect(() => compileWhere("num ^ 2 > 1", cols)).toThrow(/operator \^ is not supported for numeric/);
  });

  it("casts like Postgres: numeric(p,s) rounds half away from zero, float8 → numeric with 15 digits, → int with range checks", () => {
    expect(ev("(1.25::numeric(10,1))::text = '1.3'", {})).toBe(true);
    expect(ev("(1.23::numeric(10,1))::text = '1.2'", {})).toBe(true);
    expect(ev("num::numeric(30,1) = 12345678901234567890.1", num)).toBe(true);
    expect(ev("num::numeric(5,1) = 1", num)).toBe(null);
    expect(ev("(f::numeric)::text = '0.1'", num)).toBe(true);
    expect(ev("('123.456'::float8::numeric)::text = '123.456'", {})).toBe(true);
    expect(ev("2.5::int4 = 3 AND 1.5::int4 = 2 AND '2.5'::float8::int4 = 2", {})).toBe(true);
    expect(ev("2147483647.4::int4 = 2147483647", {})).toBe(true);
    expect(ev("num::int8 = 1", num)).toBe(null);
    expect(ev("(1e-7::float8)::text = '1e-07' AND (1e15::float8)::text = '1e+15'", {})).toBe(true);
    expect(() => compileWhere("num::numeric(10,2,3) = 1", cols)).toThrow(
      /type modifiers are not supported for type numeric/,
    );
  });
});

describe("array subscripts and slices", () => {
  const arr = { a: "{10,20,30,NULL}", m: "{{1,2,3},{4,5,6}}" };
  it("subscripts are 1-based; out of range, NULL index or too few indices give NULL", () => {
    expect(ev("a[1] = 10", arr)).toBe(true);
    expect(ev("a[3] = 30 AND a[n] = 30", { ...arr, n: "3" })).toBe(true);
    expect(ev("a[4] IS NULL AND a[5] IS NULL AND a[0] IS NULL", arr)).toBe(true);
    expect(ev("a[n] IS NULL", { ...arr, n: null })).toBe(true);
    expect(ev("m[2][3] = 6", arr)).toBe(true);
    expect(ev("m[1] IS NULL", arr)).toBe(true);
    expect(ev("a[1] = 10", { a: null })).toBe(null);
    expect(ev("('[0:2]={1,2,3}'::int[])[0] = 1", {})).toBe(true);
    expect(ev("tags[1] = 'x'", { tags: "{x,y}" })).toBe(true);
  });

  it("slices clamp to the array's bounds and give '{}' when empty", () => {
    expect(ev("a[2:3] = '{20,30}'", arr)).toBe(true);
    expect(ev("a[:2] = '{10,20}'", arr)).toBe(true);
    expect(ev("a[3:] = '{30,NULL}'", arr)).toBe(true); // array equality treats NULL elements as equal
    expect(ev("a[3:] IS NOT DISTINCT FROM '{30,NULL}'", arr)).toBe(true);
    expect(ev("a[5:9] = '{}'", arr)).toBe(true);
    expect(ev("a[0:1] = '{10}'", arr)).toBe(true);
    expect(ev("m[1:1][2:3] = '{{2,3}}'", arr)).toBe(true);
    expect(ev("m[2][2:] = '{{2,3},{5,6}}'", arr)).toBe(true);
    expect(ev("m[3:] = '{}'", arr)).toBe(true);
    expect(ev("('[0:2]={1,2,3}'::int[])[0:1] = '{1,2}'", {})).toBe(true);
    expect(ev("a[1:n] IS NULL", { ...arr, n: null })).toBe(true);
  });

  it("rejects subscripting non-arrays and non-integer subscripts", () => {
    expect(() => compileWhere("n[1] = 1", cols)).toThrow(/cannot subscript type int4/);
    expect(() => compileWhere("a['x'] = 1", cols)).toThrow(/invalid input syntax for type int8/);
    expect(() => compileWhere("a[1.5] = 1", cols)).toThrow(/array subscript must have type integer/);
  });
});

describe("match index", () => {
  it("finds shapes by equality, IN and array containment conjuncts, and keeps the rest residual", () => {
    const idx = new MatchIndex<string>();
    const add = (name: string, where: string, params: string[] = []) => {
      const c = compileWhere(where, cols, params);
      idx.add(1, name, c.hint, c.hint ? cols.get(c.hint.column) : undefined);
      return c;
    };
    expect(add("envA", `env = $1 AND "createdAt" > $2`, ["A", "2020-01-01"]).hint).toEqual({
      column: "env",
      kind: "eq",
      keys: ["sA"],
    });
    add("ids", `id IN ('1', '2')`);
    expect(add("tag", `env = 'B' AND tags @> $1::text[]`, ["{t1,t2}"]).hint?.column).toBe("env");
    expect(add("tagOnly", `tags @> ARRAY['t9']`).hint).toEqual({ column: "tags", kind: "contains", keys: ["st9"] });
    add("num", `n = 7`);
    add("residual", `n > 7 OR env = 'A'`);
    const cand = (row: Record<string, string | null>) => {
      const out = new Set<string>();
      idx.candidates(1, [row], out);
      return [...out].sort();
    };
    expect(cand({ env: "A", id: "9", n: "1", tags: null })).toEqual(["envA", "residual"]);
    expect(cand({ env: "Z", id: "2", n: "007", tags: "{t9,x}" })).toEqual(["ids", "num", "residual", "tagOnly"]);
    idx.remove("residual");
    expect(cand({ env: "B", id: "x", n: null, tags: null })).toEqual(["tag"]);
    expect(idx.stats()).toEqual({ tables: 1, residual: 0, indexed: 5 });
  });
});
