/**
 * Subset snapshots (§1.2 subset__*, §1.3 POST body, §3.6): raw GET and POST responses, validation,
 * and the official client 1.5.x fetchSnapshot / requestSnapshot.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as electric from "@electric-sql/client";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;

beforeAll(async () => {
  h = await createHarness({ longPollTimeoutMs: 2_000 });
  await h.pool.query(`CREATE TABLE tasks (id int PRIMARY KEY, env text NOT NULL, status text, n int8, tags text[])`);
  await h.pool.query(
    `INSERT INTO tasks VALUES (1, 'e1', 'PENDING', 10, '{a}'), (2, 'e1', 'DONE', 20, NULL), (3, 'e2', 'PENDING', 30, '{b}'),
     (4, 'e1', 'PENDING', 40, NULL), (5, 'e1', NULL, 50, '{a,b}')`,
  );
});
afterAll(async () => h?.close());

const shapeUrl = (q: string) => `${h.server.url}/v1/shape?${q}`;
const ids = (body: any) => body.data.map((m: any) => m.value.id);

function expectSubsetResponse(r: { status: number; headers: Headers; body: any }) {
  expect(r.status).toBe(200);
  expect(r.headers.get("electric-handle")).toMatch(/^\d+-\d+$/);
  expect(r.headers.get("electric-offset")).toMatch(/^\d+_\d+$/);
  expect(r.headers.get("electric-snapshot")).toBe("true");
  expect(r.headers.get("cache-control")).toBe("no-cache");
  expect(r.headers.get("etag")).toBeNull();
  expect(r.headers.get("electric-up-to-date")).toBeNull();
  expect(JSON.parse(r.headers.get("electric-schema")!)).toMatchObject({
    id: { type: "int4", pk_index: 0, not_null: true },
    env: { type: "text" },
  });
  const m = r.body.metadata;
  expect(m.xmin).toMatch(/^\d+$/);
  expect(m.xmax).toMatch(/^\d+$/);
  expect(Array.isArray(m.xip_list)).toBe(true);
  expect(m.database_lsn).toMatch(/^\d+$/);
  expect(Number.isInteger(m.snapshot_mark)).toBe(true);
  for (const row of r.body.data)
    expect(row.headers).toEqual({ operation: "insert", relation: ["public", "tasks"], snapshot_mark: m.snapshot_mark });
}

describe("subset snapshots over raw HTTP", () => {
  it("GET: shape where AND subset where, JSON params, order_by desc, limit/offset", async () => {
    const r = await fetchJson(
      shapeUrl(
        `table=tasks&offset=-1&where=${encodeURIComponent("env = 'e1'")}` +
          `&subset__where=${encodeURIComponent("status = $1")}&subset__params=${encodeURIComponent(JSON.stringify({ 1: "PENDING" }))}` +
          `&subset__order_by=${encodeURIComponent("n DESC")}&subset__limit=2`,
      ),
    );
    expectSubsetResponse(r);
    expect(ids(r.body)).toEqual(["4", "1"]);
    expect(r.body.data[0]).toMatchObject({
      key: `"public"."tasks"/"4"`,
      value: { id: "4", env: "e1", status: "PENDING", n: "40", tags: null },
    });

    const page2 = await fetchJson(
      shapeUrl(
        `table=tasks&offset=-1&where=${encodeURIComponent("env = 'e1'")}&subset__order_by=id&subset__limit=2&subset__offset=2`,
      ),
    );
    expectSubsetResponse(page2);
    expect(ids(page2.body)).toEqual(["4", "5"]);
    // Same shape as the non-subset request: same handle.
    expect(page2.headers.get("electric-handle")).toBe(r.headers.get("electric-handle"));
  });

  it("GET: deep-object subset params, columns, NULLS FIRST, and live is ignored", async () => {
    const first = await fetchJson(shapeUrl(`table=tasks&offset=-1&columns=id,status`));
    const handle = first.headers.get("electric-handle")!;
    const r = await fetchJson(
      shapeUrl(
        `table=tasks&offset=0_0&handle=${handle}&columns=id,status&live=true&cursor=` +
          `&subset__where=${encodeURIComponent("n >= $1 AND n <= $2")}&subset__params[1]=20&subset__params[2]=50` +
          `&subset__order_by=${encodeURIComponent('"status" ASC NULLS FIRST, id')}`,
      ),
    );
    expect(r.status).toBe(200);
    expect(r.headers.get("electric-handle")).toBe(handle);
    expect(r.headers.get("electric-snapshot")).toBe("true");
    expect(r.headers.get("electric-cursor")).toBeNull();
    expect(r.body.data.map((m: any) => m.value)).toEqual([
      { id: "5", status: null },
      { id: "2", status: "DONE" },
      { id: "3", status: "PENDING" },
      { id: "4", status: "PENDING" },
    ]);
  });

  it("POST: JSON body (flat and nested `subset`), shape params in the URL", async () => {
    const post = (body: unknown) =>
      fetchJson(shapeUrl(`table=tasks&offset=-1`), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const r = await post({
      where: "env = $1 AND n > $2",
      params: { 1: "e1", 2: 10 },
      order_by: "n",
      limit: 2,
      offset: 1,
    });
    expectSubsetResponse(r);
    expect(ids(r.body)).toEqual(["4", "5"]);

    const nested = await post({ subset: { where: "tags @> $1::text[]", params: ["{a}"], order_by: "id DESC" } });
    expectSubsetResponse(nested);
    expect(ids(nested.body)).toEqual(["5", "1"]);

    const all = await post({ where: "true" });
    expect(ids(all.body).sort()).toEqual(["1", "2", "3", "4", "5"]);
  });

  it("sees a committed insert and stays consistent with the shape where", async () => {
    await h.pool.query(`INSERT INTO tasks VALUES (6, 'e2', 'PENDING', 60, NULL)`);
    const r = await fetchJson(
      shapeUrl(
        `table=tasks&offset=-1&where=${encodeURIComponent("env = 'e2'")}&subset__where=${encodeURIComponent("n > 0")}&subset__order_by=id`,
      ),
    );
    expectSubsetResponse(r);
    expect(ids(r.body)).toEqual(["3", "6"]);
    await h.pool.query(`DELETE FROM tasks WHERE id = 6`);
  });

  it("rejects bad subset input with 400 under errors.subset", async () => {
    const bad = async (q: string, init?: RequestInit) => {
      const r = await fetchJson(shapeUrl(`table=tasks&offset=-1&${q}`), init);
      expect(r.status).toBe(400);
      return r.body;
    };
    const w = await bad(`subset__where=${encodeURIComponent("nope = 1")}`);
    expect(w.message).toBe("Invalid request");
    expect(w.errors.subset.where[0]).toMatch(/^At location \d+: /);
    expect((await bad(`subset__where=${encodeURIComponent("id IN (SELECT 1)")}`)).errors.subset.where[0]).toMatch(
      /subquer/i,
    );
    expect(
      (await bad(`subset__where=${encodeURIComponent("id = 1; DROP TABLE tasks")}`)).errors.subset.where,
    ).toHaveLength(1);
    expect((await bad(`subset__where=${encodeURIComponent("id = $1")}`)).errors.subset.where[0]).toMatch(/\$1/);
    expect((await bad(`subset__limit=2`)).errors.subset).toEqual({
      order_by: ["order_by is required when limit or offset is present"],
    });
    expect((await bad(`subset__order_by=${encodeURIComponent("$1")}`)).errors.subset.order_by[0]).toMatch(/parameters/);
    expect(
      (await bad(`subset__order_by=${encodeURIComponent("id; DROP TABLE tasks")}`)).errors.subset.order_by,
    ).toHaveLength(1);
    expect((await bad(`subset__order_by=nope`)).errors.subset.order_by[0]).toMatch(/nope/);
    expect(
      (await bad(`subset__params=${encodeURIComponent("{nope")}&subset__where=id%3D%241`)).errors.subset.params,
    ).toEqual(["params must be valid JSON"]);
    expect((await bad(`subset__limit=0&subset__order_by=id`)).errors.subset.limit).toHaveLength(1);
    const post = await bad("", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ where: "id =" }),
    });
    expect(post.errors.subset.where).toHaveLength(1);
    // The table is still there.
    expect((await h.pool.query(`SELECT count(*)::int AS n FROM tasks`)).rows[0].n).toBe(5);
  });
});

describe("@electric-sql/client 1.5.x", () => {
  it.each([["GET"], ["POST"]] as const)("fetchSnapshot (%s) returns the parsed rows", async (method) => {
    const aborter = new AbortController();
    const stream = new electric.ShapeStream({
      url: `${h.server.url}/v1/shape`,
      params: { table: "tasks" },
      log: "changes_only",
      signal: aborter.signal,
    } as never);
    const { metadata, data } = await stream.fetchSnapshot({
      where: "env = $1",
      params: { "1": "e1" },
      limit: 3,
      orderBy: "n DESC",
      method,
    } as never);
    expect(metadata).toMatchObject({
      xmin: expect.any(String),
      xmax: expect.any(String),
      database_lsn: expect.any(String),
    });
    expect(data.map((m: any) => [m.value.id, m.value.n])).toEqual([
      [5, 50n],
      [4, 40n],
      [2, 20n],
    ]);
    aborter.abort();
  });

  it("requestSnapshot injects the subset into a changes_only stream, then live changes follow", async () => {
    const aborter = new AbortController();
    const stream = new electric.ShapeStream({
      url: `${h.server.url}/v1/shape`,
      params: { table: "tasks" },
      log: "changes_only",
      signal: aborter.signal,
    } as never);
    const seen: string[] = [];
    stream.subscribe((msgs: any[]) => {
      for (const m of msgs) if ("key" in m) seen.push(`${m.headers.operation}:${m.value.id}`);
    });
    const { data } = await stream.requestSnapshot({
      where: "status = $1",
      params: { "1": "PENDING" },
      limit: 2,
      orderBy: "id",
    } as never);
    expect(data.map((m: any) => m.value.id)).toEqual([1, 3]);
    await vi.waitFor(() => expect(seen).toEqual(["insert:1", "insert:3"]), { timeout: 8000 });
    await h.pool.query(`UPDATE tasks SET n = 11 WHERE id = 1`);
    await vi.waitFor(() => expect(seen).toContain("update:1"), { timeout: 8000 });
    aborter.abort();
  });
});
