import { beforeAll, describe, expect, it } from "vitest";
import { compileWhere, loadWhereParser, WhereError, type ColumnType } from "../src/where/compile.js";
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
]);

beforeAll(() => loadWhereParser());

const ev = (where: string, row: Record<string, string | null>, params: string[] = []) => compileWhere(where, cols, params).evaluate(row);

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
  });

  it("inlines params into the snapshot SQL and keys shapes by structure", () => {
    const a = compileWhere(`"runtimeEnvironmentId" = $1`.replace('"runtimeEnvironmentId"', "env"), cols, ["o'k"]);
    expect(a.sql).toBe(`env = 'o''k'`);
    expect(compileWhere("env   =   'x'", cols).key).toBe(compileWhere("env = 'x'", cols).key);
    expect(compileWhere("env = $1", cols, ["x"]).key).not.toBe(compileWhere("env = $1", cols, ["y"]).key);
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
    expect(add("envA", `env = $1 AND "createdAt" > $2`, ["A", "2020-01-01"]).hint).toEqual({ column: "env", kind: "eq", keys: ["sA"] });
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
