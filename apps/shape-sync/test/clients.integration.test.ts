/**
 * The official clients, unchanged, against our server: @electric-sql/client 1.0.14 (the version
 * @trigger.dev/core pins) and 1.5.x, long-poll and SSE.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as v10 from "electric-client-1-0";
import * as v15 from "@electric-sql/client";
import { createHarness, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;
let tableSeq = 0;

beforeAll(async () => {
  h = await createHarness({ longPollTimeoutMs: 2_000 });
  // 1.0.x SSE uses @microsoft/fetch-event-source, which listens to document visibility; Node has no document.
  const g = globalThis as { document?: unknown; window?: unknown };
  g.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };
  g.window ??= { setTimeout, clearTimeout };
});
afterAll(async () => h?.close());

async function newTable(): Promise<string> {
  const name = `runs_${++tableSeq}`;
  await h.pool.query(
    `CREATE TABLE ${name} (id text PRIMARY KEY, env text NOT NULL, status text, n int4, tags text[], meta jsonb)`,
  );
  await h.pool.query(
    `INSERT INTO ${name} VALUES ('a', 'e1', 'PENDING', 1, '{x,y}', '{"k":1}'), ('b', 'e2', 'PENDING', 2, '{y}', NULL)`,
  );
  return name;
}

type Lib = { ShapeStream: typeof v15.ShapeStream; Shape: typeof v15.Shape };
const versions: Array<[string, Lib, (sse: boolean) => Record<string, unknown>]> = [
  ["1.0.14", v10 as unknown as Lib, (sse) => (sse ? { experimentalLiveSse: true } : {})],
  ["1.5.x", v15, (sse) => (sse ? { liveSse: true } : {})],
];

describe.each(versions)("@electric-sql/client %s", (_v, lib, sseOpt) => {
  describe.each([
    ["long-poll", false],
    ["sse", true],
  ])("%s", (_mode, sse) => {
    it("Shape sees initial rows then inserts, updates, deletes live in order", async () => {
      const table = await newTable();
      const aborter = new AbortController();
      const urls: string[] = [];
      const fetchClient = (input: RequestInfo | URL, init?: RequestInit) => {
        urls.push(String(input));
        return fetch(input, init);
      };
      const stream = new lib.ShapeStream({
        url: `${h.server.url}/v1/shape`,
        params: { table },
        signal: aborter.signal,
        fetchClient,
        ...sseOpt(sse),
      } as never);
      const ops: string[] = [];
      stream.subscribe((msgs: any[]) => {
        for (const m of msgs) if ("key" in m) ops.push(`${m.headers.operation}:${m.key.split("/")[1]}`);
      });
      const shape = new lib.Shape(stream as never);
      const initial = await shape.rows;
      expect(initial.map((r: any) => r.id).sort()).toEqual(["a", "b"]);
      expect(initial.find((r: any) => r.id === "a")).toMatchObject({
        env: "e1",
        n: 1,
        tags: ["x", "y"],
        meta: { k: 1 },
      });

      await h.pool.query(`INSERT INTO ${table} VALUES ('c', 'e1', 'PENDING', 3, NULL, NULL)`);
      await vi.waitFor(() => expect(shape.currentRows.map((r: any) => r.id).sort()).toEqual(["a", "b", "c"]), {
        timeout: 8000,
      });
      await h.pool.query(`UPDATE ${table} SET status = 'DONE', n = 30 WHERE id = 'c'`);
      await vi.waitFor(
        () =>
          expect(shape.currentValue.get(`"public"."${table}"/"c"`)).toMatchObject({ status: "DONE", n: 30, env: "e1" }),
        { timeout: 8000 },
      );
      await h.pool.query(
        `BEGIN; DELETE FROM ${table} WHERE id = 'a'; UPDATE ${table} SET n = 99 WHERE id = 'b'; COMMIT;`,
      );
      await vi.waitFor(
        () =>
          expect(shape.currentRows.map((r: any) => [r.id, r.n]).sort()).toEqual([
            ["b", 99],
            ["c", 30],
          ]),
        { timeout: 8000 },
      );
      expect(ops).toEqual(
        ['insert:"a"', 'insert:"b"', 'insert:"c"', 'update:"c"', 'delete:"a"', 'update:"b"'].filter((o) =>
          ops.includes(o),
        ),
      );
      expect(ops.slice(-4)).toEqual(['insert:"c"', 'update:"c"', 'delete:"a"', 'update:"b"']);
      expect(urls.some((u) => /live_sse=true/.test(u))).toBe(sse);
      aborter.abort();
    });
  });

  it("where + columns + replica=full", async () => {
    const table = await newTable();
    const aborter = new AbortController();
    const stream = new lib.ShapeStream({
      url: `${h.server.url}/v1/shape`,
      params: {
        table,
        where: `env = $1 AND tags @> $2::text[]`,
        params: { 1: "e1", 2: "{x}" } as never,
        columns: ["id", "env", "n"],
        replica: "full",
      },
      signal: aborter.signal,
    } as never);
    const msgs: any[] = [];
    stream.subscribe((batch: any[]) => void msgs.push(...batch.filter((m) => "key" in m)));
    const shape = new lib.Shape(stream as never);
    expect(await shape.rows).toEqual([{ id: "a", env: "e1", n: 1 }]);
    await h.pool.query(`UPDATE ${table} SET n = 5 WHERE id = 'a'`);
    await h.pool.query(
      `INSERT INTO ${table} VALUES ('z', 'e1', NULL, 7, '{x}', NULL), ('w', 'e2', NULL, 8, '{x}', NULL)`,
    );
    await h.pool.query(`UPDATE ${table} SET tags = '{q}' WHERE id = 'z'`);
    await vi.waitFor(() => expect(msgs.length).toBe(4), { timeout: 8000 });
    expect(msgs[1]).toMatchObject({
      value: { id: "a", env: "e1", n: 5 },
      old_value: { n: 1 },
      headers: { operation: "update" },
    });
    expect(msgs[2]).toMatchObject({ value: { id: "z", env: "e1", n: 7 }, headers: { operation: "insert" } });
    expect(msgs[3]).toMatchObject({ value: { id: "z", env: "e1", n: 7 }, headers: { operation: "delete" } });
    expect(shape.currentRows).toEqual([{ id: "a", env: "e1", n: 5 }]);
    aborter.abort();
  });

  it("handles 409 must-refetch after the shape is deleted", async () => {
    const table = await newTable();
    const aborter = new AbortController();
    const stream = new lib.ShapeStream({
      url: `${h.server.url}/v1/shape`,
      params: { table },
      signal: aborter.signal,
    } as never);
    const shape = new lib.Shape(stream as never);
    await shape.rows;
    const handle = (stream as any).shapeHandle as string;
    expect(handle).toBeTruthy();
    const del = await fetch(`${h.server.url}/v1/shape?table=${table}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    await h.pool.query(`INSERT INTO ${table} VALUES ('d', 'e3', NULL, 4, NULL, NULL)`);
    await vi.waitFor(
      () => {
        expect((stream as any).shapeHandle).not.toBe(handle);
        expect(shape.currentRows.map((r: any) => r.id).sort()).toEqual(["a", "b", "d"]);
      },
      { timeout: 10_000 },
    );
    aborter.abort();
  });
});
