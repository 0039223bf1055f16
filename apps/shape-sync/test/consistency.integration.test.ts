/** Snapshot/stream consistency under concurrent writes, invalidation (TRUNCATE, schema change), the slot lock, metrics. */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ShapeStream, Shape } from "@electric-sql/client";
import { startShapeServer } from "../src/server.js";
import { ReplicationStream } from "../src/replication/stream.js";
import { publicationName, slotName } from "../src/replication/names.js";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;

beforeAll(async () => {
  h = await createHarness({ longPollTimeoutMs: 2_000 });
});
afterAll(async () => h?.close());

describe("consistency", () => {
  it("a shape created while writes are in flight converges to the table (no change lost or doubled)", async () => {
    await h.pool.query(`CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL)`);
    await h.pool.query(`INSERT INTO counters SELECT g, 0 FROM generate_series(1, 20) g`);
    let writing = true;
    const writer = (async () => {
      let i = 0;
      while (writing) {
        await h.pool.query(`UPDATE counters SET v = v + 1 WHERE id = $1`, [(i++ % 20) + 1]);
        if (i % 7 === 0)
          await h.pool.query(`INSERT INTO counters VALUES ($1, 0) ON CONFLICT (id) DO NOTHING`, [100 + i]);
      }
    })();
    const shapes: Shape[] = [];
    const acs: AbortController[] = [];
    const inserts = new Map<number, string[]>();
    for (let s = 0; s < 3; s++) {
      const ac = new AbortController();
      const where = s === 0 ? undefined : s === 1 ? "v >= 0" : "id <= 10 OR id > 100";
      const stream = new ShapeStream({
        url: `${h.server.url}/v1/shape`,
        params: { table: "counters", ...(where ? { where } : {}) },
        signal: ac.signal,
      });
      const keys: string[] = [];
      inserts.set(s, keys);
      stream.subscribe((msgs) =>
        msgs.forEach((m: any) => m.key && m.headers.operation === "insert" && keys.push(m.key)),
      );
      shapes.push(new Shape(stream));
      acs.push(ac);
      await new Promise((r) => setTimeout(r, 30)); // stagger shape creation between writes
    }
    await Promise.all(shapes.map((s) => s.rows));
    await new Promise((r) => setTimeout(r, 200));
    writing = false;
    await writer;
    const all = (await h.pool.query(`SELECT id, v FROM counters ORDER BY id`)).rows;
    const expectFor = [all, all, all.filter((r) => r.id <= 10 || r.id > 100)];
    await vi.waitFor(
      () => {
        shapes.forEach((shape, i) => {
          const got = (shape.currentRows as any[]).map((r) => [r.id, r.v]).sort((a, b) => a[0] - b[0]);
          expect(got).toEqual(expectFor[i]!.map((r) => [r.id, r.v]));
        });
      },
      { timeout: 10_000 },
    );
    for (const keys of inserts.values()) expect(new Set(keys).size).toBe(keys.length);
    acs.forEach((a) => a.abort());
  });

  it("TRUNCATE and a schema change invalidate the shape with 409 and a new handle", async () => {
    await h.pool.query(`CREATE TABLE t1 (id int PRIMARY KEY, x text)`);
    await h.pool.query(`INSERT INTO t1 VALUES (1, 'a')`);
    const first = await fetchJson(`${h.server.url}/v1/shape?table=t1&offset=-1`);
    const handle = first.headers.get("electric-handle")!;
    const live = fetchJson(`${h.server.url}/v1/shape?table=t1&offset=0_0&handle=${handle}&live=true`);
    await h.pool.query(`TRUNCATE t1`);
    const r = await live;
    expect(r.status).toBe(409);
    const handle2 = r.headers.get("electric-handle")!;
    expect(handle2).not.toBe(handle);
    const again = await fetchJson(`${h.server.url}/v1/shape?table=t1&offset=0_0&handle=${handle}`);
    expect(again.status).toBe(409);

    const r2 = await fetchJson(`${h.server.url}/v1/shape?table=t1&offset=0_0&handle=${handle2}`);
    expect(r2.status).toBe(200);
    await h.pool.query(`ALTER TABLE t1 ADD COLUMN y int`);
    await h.pool.query(`INSERT INTO t1 VALUES (2, 'b', 3)`);
    await vi.waitFor(
      async () => {
        const r3 = await fetchJson(`${h.server.url}/v1/shape?table=t1&offset=0_0&handle=${handle2}`);
        expect(r3.status).toBe(409);
      },
      { timeout: 5000 },
    );
    const fresh = await fetchJson(`${h.server.url}/v1/shape?table=t1&offset=-1`);
    expect(fresh.body.filter((m: any) => m.key).map((m: any) => m.value)).toEqual([{ id: "2", x: "b", y: "3" }]);
  });

  it("a dropped table's shape keeps being served to the clients holding its handle, without re-validation (as Electric)", async () => {
    await h.pool.query(`CREATE TABLE dropped1 (id int PRIMARY KEY, x text)`);
    await h.pool.query(`CREATE TABLE other1 (id int PRIMARY KEY)`);
    await h.pool.query(`INSERT INTO dropped1 VALUES (1, 'a')`);
    const first = await fetchJson(`${h.server.url}/v1/shape?table=dropped1&offset=-1`);
    const handle = first.headers.get("electric-handle")!;
    const offset = first.headers.get("electric-offset")!;
    const other = await fetchJson(`${h.server.url}/v1/shape?table=other1&offset=-1`);
    const otherHandle = other.headers.get("electric-handle")!;
    await h.pool.query(`DROP TABLE dropped1`);
    // Another table's schema change makes the server forget every compiled definition and table lookup.
    await h.pool.query(`ALTER TABLE other1 ADD COLUMN y int`);
    await h.pool.query(`INSERT INTO other1 VALUES (1, 2)`);
    await vi.waitFor(
      async () => {
        const r = await fetchJson(`${h.server.url}/v1/shape?table=other1&offset=0_0&handle=${otherHandle}`);
        expect(r.status).toBe(409);
      },
      { timeout: 5000 },
    );
    // The holder of the handle is answered from the shape: up to date, nothing new, live or not.
    const kept = await fetchJson(`${h.server.url}/v1/shape?table=dropped1&offset=${offset}&handle=${handle}`);
    expect(kept.status).toBe(200);
    expect(kept.headers.get("electric-up-to-date")).not.toBeNull();
    expect(kept.body.filter((m: any) => m.key)).toEqual([]);
    const live = await fetchJson(`${h.server.url}/v1/shape?table=dropped1&offset=${offset}&handle=${handle}&live=true`);
    expect(live.status).toBe(200);
    expect(live.headers.get("electric-handle")).toBe(handle);
    // A request starting a shape is validated against the catalog: the relation is gone.
    const fresh = await fetchJson(`${h.server.url}/v1/shape?table=dropped1&offset=-1`);
    expect(fresh.status).toBe(400);
  });

  it("graceful restart keeps handles; slot loss while down invalidates every shape (409, new handle)", async () => {
    await h.pool.query(`CREATE TABLE t2 (id int PRIMARY KEY)`);
    await h.pool.query(`INSERT INTO t2 VALUES (1)`);
    const first = await fetchJson(`${h.server.url}/v1/shape?table=t2&offset=-1`);
    const handle = first.headers.get("electric-handle")!;
    await h.server.stop();
    await h.start();
    const kept = await fetchJson(`${h.server.url}/v1/shape?table=t2&offset=0_0&handle=${handle}`);
    expect(kept.status).toBe(200);
    await h.server.stop();
    await vi.waitFor(async () => {
      const r = await h.pool.query(
        `SELECT count(*)::int AS n FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`,
        [`electric_slot_${h.streamId}`],
      );
      expect(r.rows[0].n).toBe(1);
    });
    await h.pool.query(`SELECT pg_drop_replication_slot($1)`, [`electric_slot_${h.streamId}`]);
    await h.start();
    const lost = await fetchJson(`${h.server.url}/v1/shape?table=t2&offset=0_0&handle=${handle}`);
    expect(lost.status).toBe(409);
    expect(lost.headers.get("electric-handle")).not.toBe(handle);
  });

  it("a long-poll that times out while replication is down gets 503 with retry-after, then 200 once it is back", async () => {
    await h.pool.query(`CREATE TABLE t3 (id int PRIMARY KEY)`);
    await h.pool.query(`INSERT INTO t3 VALUES (1)`);
    const first = await fetchJson(`${h.server.url}/v1/shape?table=t3&offset=-1`);
    const live = `${h.server.url}/v1/shape?table=t3&offset=${first.headers.get("electric-offset")}&handle=${first.headers.get("electric-handle")}&live=true`;
    // Take the slot away: end the server's walsender and hold the slot with another replication connection.
    const slot = slotName(h.streamId);
    let squatter: ReplicationStream | undefined;
    await vi.waitFor(
      async () => {
        await h.pool.query(
          `SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = $1 AND active_pid IS NOT NULL`,
          [slot],
        );
        const s = new ReplicationStream({
          connectionString: h.db.url,
          slot,
          publication: publicationName(h.streamId),
          onMessage: () => {},
        });
        await s.start();
        squatter = s;
      },
      { timeout: 10_000, interval: 20 },
    );
    try {
      const down = await fetchJson(live);
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("10");
      expect(down.body).toEqual({ message: expect.stringContaining("Replication") });
    } finally {
      await squatter!.stop();
    }
    await vi.waitFor(async () => expect((await fetchJson(live)).status).toBe(200), { timeout: 20_000, interval: 100 });
  });

  it("a second instance on the same slot waits behind the advisory lock, then takes over", async () => {
    const second = await startShapeServer({
      databaseUrl: h.db.url,
      storageDir: h.storageDir,
      port: 0,
      host: "127.0.0.1",
      replicationStreamId: h.streamId,
      logLevel: "silent",
    });
    try {
      const w = await fetchJson(`${second.url}/v1/health`);
      expect(w.status).toBe(202);
      expect(w.body).toEqual({ status: "waiting" });
      await h.server.stop();
      await second.ready;
      expect((await fetchJson(`${second.url}/v1/health`)).body).toEqual({ status: "active" });
      const m = await fetch(`${second.url}/metrics`).then((r) => r.text());
      expect(m).toMatch(/shape_sync_replication_slot_lag_bytes \d+/);
    } finally {
      await second.stop();
    }
  });
});
