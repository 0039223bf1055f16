import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;

beforeAll(async () => {
  h = await createHarness();
  await h.pool.query(`CREATE TABLE items (id int PRIMARY KEY, title text NOT NULL, n int8, flag bool, tags text[])`);
  await h.pool.query(`INSERT INTO items VALUES (1, 'one', 10, true, '{a,b}'), (2, 'two', 20, false, '{b}')`);
});
afterAll(async () => h?.close());

const shapeUrl = (q: string) => `${h.server.url}/v1/shape?${q}`;

describe("protocol", () => {
  it("serves the initial snapshot, then up-to-date, then a live change", async () => {
    const r1 = await fetchJson(shapeUrl("table=items&offset=-1"));
    expect(r1.status).toBe(200);
    const handle = r1.headers.get("electric-handle")!;
    expect(handle).toMatch(/^\d+-\d+$/);
    expect(r1.headers.get("electric-offset")).toBe("0_0");
    expect(r1.headers.get("electric-up-to-date")).toBeNull();
    expect(JSON.parse(r1.headers.get("electric-schema")!)).toEqual({
      id: { type: "int4", pk_index: 0, not_null: true },
      title: { type: "text", not_null: true },
      n: { type: "int8" },
      flag: { type: "bool" },
      tags: { type: "text", dims: 1 },
    });
    expect(r1.body).toHaveLength(3);
    expect(r1.body[0]).toEqual({
      key: `"public"."items"/"1"`,
      value: { id: "1", title: "one", n: "10", flag: "true", tags: "{a,b}" },
      headers: { operation: "insert", relation: ["public", "items"] },
    });
    expect(r1.body[2].headers.control).toBe("snapshot-end");

    const r2 = await fetchJson(shapeUrl(`table=items&offset=0_0&handle=${handle}`));
    expect(r2.status).toBe(200);
    expect(r2.headers.get("electric-up-to-date")).toBe("");
    expect(r2.body).toEqual([
      { headers: { control: "up-to-date", global_last_seen_lsn: expect.stringMatching(/^\d+$/) } },
    ]);

    const live = fetchJson(shapeUrl(`table=items&offset=0_0&handle=${handle}&live=true&cursor=`));
    await h.pool.query(`INSERT INTO items VALUES (3, 'three', NULL, NULL, NULL)`);
    const r3 = await live;
    expect(r3.status).toBe(200);
    expect(r3.headers.get("electric-cursor")).toMatch(/^\d+$/);
    expect(r3.body[0].value).toEqual({ id: "3", title: "three", n: null, flag: null, tags: null });
    expect(r3.body[0].headers).toMatchObject({ operation: "insert", op_position: 0, last: true });
    expect(r3.body[0].headers.lsn).toMatch(/^\d+$/);
    expect(r3.headers.get("electric-offset")).toBe(`${r3.body[0].headers.lsn}_0`);
    expect(r3.body.at(-1).headers.control).toBe("up-to-date");
  });

  it("rejects bad input with the spec's 400 bodies", async () => {
    const bad = async (q: string) => (await fetchJson(shapeUrl(q))).body;
    expect(await bad("offset=-1")).toEqual({ message: "Invalid request", errors: { table: ["can't be blank"] } });
    expect(await bad("table=nope&offset=-1")).toEqual({
      message: "Invalid request",
      errors: {
        table: [
          `Table "public"."nope" does not exist. If the table name contains capitals or special characters you must quote it.`,
        ],
      },
    });
    expect(await bad("table=items&offset=x")).toEqual({
      message: "Invalid request",
      errors: { offset: ["has invalid format"] },
    });
    expect(await bad("table=items&offset=0_0")).toEqual({
      message: "Invalid request",
      errors: { handle: ["can't be blank when offset != -1"] },
    });
    expect(await bad("table=items&offset=-1&where=1%20x%201")).toEqual({
      message: "Invalid request",
      errors: { where: [`At location 17: syntax error at or near "x"`] },
    });
    expect((await bad("table=items&offset=-1&where=nope%20%3D%201")).errors.where[0]).toMatch(/unknown reference nope/);
    expect((await bad("table=items&offset=-1&where=title%20~%20'a'")).errors.where[0]).toMatch(
      /unsupported operator ~/,
    );
    expect((await bad("table=items&offset=-1&where=now()%20%3E%20'2020-01-01'")).errors.where[0]).toMatch(
      /unsupported function now/,
    );
    expect((await bad("table=items&offset=-1&columns=title")).errors.columns[0]).toMatch(
      /must include all primary key columns, missing: id/,
    );
    expect((await bad("table=items&offset=-1&columns=id,zz")).errors.columns[0]).toMatch(/not found on the table: zz/);
    // A NUL cannot reach Postgres (it was a 500 "invalid message format").
    expect(await bad("table=items&offset=-1&where=title%20%3D%20%241&params[1]=a%00b")).toEqual({
      message: "Invalid request",
      errors: { params: ["must not contain NUL characters"] },
    });
    expect((await bad("table=items%00&offset=-1")).errors.table).toContain("must not contain NUL characters");
    const r = await fetchJson(shapeUrl("table=items&offset=-1&live=true"));
    expect(r.status).toBe(400);
    expect(r.headers.get("cache-control")).toBe("no-store");
  });

  it("fails every request with one JSON body shape, {message, errors?, code?}; the 409 body is must-refetch (§6.1)", async () => {
    const post = (body: string) =>
      fetchJson(shapeUrl("table=items&offset=-1"), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
    const failures = [
      [await fetchJson(shapeUrl("table=items&offset=x")), 400],
      [await post("{not json"), 400],
      [await post("[1,2]"), 400],
      [await post(JSON.stringify({ where: "x".repeat(1024 * 1024) })), 413],
      [await fetchJson(`${h.server.url}/v2/nothing`), 404],
      [await fetchJson(`${h.server.url}/v1/shape?handle=1-2`, { method: "DELETE" }), 404],
      [await fetchJson(shapeUrl("table=items&offset=-1"), { method: "PUT" }), 405],
    ] as const;
    for (const [r, status] of failures) {
      expect(r.status).toBe(status);
      expect(r.headers.get("content-type")).toMatch(/^application\/json/);
      expect(typeof r.body.message).toBe("string");
      expect(Object.keys(r.body).every((k) => ["message", "errors", "code"].includes(k))).toBe(true);
    }
    expect(failures[1][0].body).toEqual({
      message: "Invalid request",
      errors: { body: [expect.stringMatching(/^Invalid JSON in request body: /)] },
    });
    expect(failures[2][0].body).toEqual({
      message: "Invalid request",
      errors: { body: ["Request body must be a JSON object"] },
    });
    expect(failures[3][0].body).toEqual({ message: "Request body too large" });
  });

  it("answers 409 with a fresh handle for an unknown handle, and 304 on a matching etag", async () => {
    const r = await fetchJson(shapeUrl("table=items&offset=0_0&handle=123-456"));
    expect(r.status).toBe(409);
    expect(r.body).toEqual([{ headers: { control: "must-refetch" } }]);
    const handle = r.headers.get("electric-handle")!;
    const first = await fetch(shapeUrl(`table=items&offset=-1`));
    expect(first.headers.get("electric-handle")).toBe(handle);
    const etag = first.headers.get("etag")!;
    const again = await fetch(shapeUrl(`table=items&offset=-1`), { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
  });

  it("health, CORS and DELETE", async () => {
    const health = await fetchJson(`${h.server.url}/v1/health`);
    expect(health.body).toEqual({ status: "active" });
    const r = await fetch(shapeUrl("table=items&offset=-1"), { headers: { origin: "http://x.test" } });
    expect(r.headers.get("access-control-allow-origin")).toBe("http://x.test");
    expect(r.headers.get("access-control-expose-headers")).toContain("electric-handle");
    const handle = r.headers.get("electric-handle")!;
    const del = await fetch(`${h.server.url}/v1/shape?table=items&handle=${handle}`, { method: "DELETE" });
    expect(del.status).toBe(202);
    const after = await fetchJson(shapeUrl(`table=items&offset=0_0&handle=${handle}`));
    expect(after.status).toBe(409);
    expect(after.headers.get("electric-handle")).not.toBe(handle);
  });

  it("log=changes_only starts with snapshot-end only and then streams changes", async () => {
    const r = await fetchJson(shapeUrl("table=items&offset=-1&log=changes_only"));
    expect(r.status).toBe(200);
    expect(r.body).toHaveLength(1);
    expect(r.body[0].headers.control).toBe("snapshot-end");
    const handle = r.headers.get("electric-handle")!;
    const live = fetchJson(shapeUrl(`table=items&offset=0_0&handle=${handle}&live=true&log=changes_only`));
    await h.pool.query(`UPDATE items SET title = 'uno' WHERE id = 1`);
    const l = await live;
    expect(l.body[0]).toMatchObject({ value: { id: "1", title: "uno" }, headers: { operation: "update" } });
  });

  it("a client that disconnects mid-wait leaves no waiter behind; offset=now answers at once", async () => {
    const first = await fetchJson(shapeUrl("table=items&offset=-1"));
    const handle = first.headers.get("electric-handle")!;
    const caughtUp = await fetchJson(shapeUrl(`table=items&offset=0_0&handle=${handle}`));
    expect(caughtUp.headers.get("electric-up-to-date")).toBe("");
    const ac = new AbortController();
    const pending = fetch(
      shapeUrl(`table=items&offset=${caughtUp.headers.get("electric-offset")}&handle=${handle}&live=true`),
      { signal: ac.signal },
    ).catch(() => undefined);
    const metric = async () =>
      Number(/shape_sync_live_waiters (\d+)/.exec(await fetch(`${h.server.url}/metrics`).then((r) => r.text()))![1]);
    await vi.waitFor(async () => expect(await metric()).toBeGreaterThan(0));
    ac.abort();
    await pending;
    await vi.waitFor(async () => expect(await metric()).toBe(0));
    const now = await fetchJson(shapeUrl("table=items&offset=now"));
    expect(now.status).toBe(200);
    expect(now.headers.get("electric-has-data")).toBe("false");
    expect(now.body).toEqual([
      { headers: { control: "up-to-date", global_last_seen_lsn: expect.stringMatching(/^\d+$/) } },
    ]);
  });
});

describe("secret", () => {
  it("rejects a missing or wrong secret with 401 when ELECTRIC_SECRET is set", async () => {
    const { startShapeServer } = await import("../src/server.js");
    const { mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const dir = mkdtempSync(join(tmpdir(), "shape-sync-secret-"));
    // Same stream id and storage as the main server would block on the advisory lock; use its own.
    const s = await startShapeServer({
      databaseUrl: h.db.url,
      storageDir: dir,
      port: 0,
      host: "127.0.0.1",
      replicationStreamId: `${h.streamId}s`,
      secret: "sekret",
      logLevel: "warn",
    });
    try {
      await s.ready;
      const bad = await fetchJson(`${s.url}/v1/shape?table=items&offset=-1&secret=nope`);
      expect(bad.status).toBe(401);
      expect(bad.body).toEqual({ message: "Unauthorized - Invalid API secret" });
      const ok = await fetchJson(`${s.url}/v1/shape?table=items&offset=-1&secret=sekret`);
      expect(ok.status).toBe(200);
    } finally {
      await s.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
