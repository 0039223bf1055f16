/**
 * Restart recovery with the real process: spawn the built server (dist/main.js), kill -9 it while a client is live,
 * write while it is down, start it again; the client resumes with the same handle, no resync,
 * nothing missed or doubled.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ShapeStream, Shape } from "@electric-sql/client";
import { ShapeStream as ShapeStream10, Shape as Shape10 } from "electric-client-1-0";
import { createTestDatabase, type TestDatabase } from "@runfeed/devstack/test-context";
import { shapeSyncEntry } from "@runfeed/devstack";
import { waitForSlotsInactive } from "./fixtures.js";

const root = resolve(import.meta.dirname, "../../..");
let db: TestDatabase;
let pool: pg.Pool;
let storageDir: string;
let port: number;
const streamId = `k${randomBytes(4).toString("hex")}`;
let child: ChildProcess | undefined;

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

async function startChild(): Promise<void> {
  // The built server, as `pnpm start` runs it; node itself, so SIGKILL hits the server process.
  child = spawn(process.execPath, [shapeSyncEntry()], {
    cwd: join(root, "apps/shape-sync"),
    env: {
      ...process.env,
      DATABASE_URL: db.url,
      ELECTRIC_PORT: String(port),
      ELECTRIC_STORAGE_DIR: storageDir,
      ELECTRIC_REPLICATION_STREAM_ID: streamId,
      ELECTRIC_LONG_POLL_TIMEOUT: "2000",
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  await vi.waitFor(
    async () => {
      const r = await fetch(`http://127.0.0.1:${port}/v1/health`);
      expect(await r.json()).toEqual({ status: "active" });
    },
    { timeout: 20_000, interval: 100 },
  );
}

function kill9(): Promise<void> {
  const c = child!;
  child = undefined;
  return new Promise((res) => {
    c.once("exit", () => res());
    c.kill("SIGKILL");
  });
}

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  storageDir = mkdtempSync(join(tmpdir(), "shape-sync-restart-"));
  port = await freePort();
  await pool.query(`CREATE TABLE jobs (id int PRIMARY KEY, v text)`);
  await pool.query(`INSERT INTO jobs SELECT g, 'v' || g FROM generate_series(1, 5) g`);
  await startChild();
});

afterAll(async () => {
  if (child) await kill9();
  await waitForSlotsInactive(pool);
  await pool.end();
  await db.drop();
  rmSync(storageDir, { recursive: true, force: true });
});

describe("kill -9 and resume", () => {
  it("clients 1.5.x and 1.0.14 resume with the same handle, no resync, no missed or duplicated changes", async () => {
    const url = `http://127.0.0.1:${port}/v1/shape`;
    const a15 = new AbortController();
    const a10 = new AbortController();
    const s15 = new ShapeStream({ url, params: { table: "jobs" }, signal: a15.signal });
    const s10 = new ShapeStream10({ url, params: { table: "jobs" }, signal: a10.signal });
    const keys15: string[] = [];
    const keys10: string[] = [];
    let refetches = 0;
    s15.subscribe((msgs) =>
      msgs.forEach((m: any) =>
        m.key ? keys15.push(`${m.headers.operation}:${m.key}`) : m.headers.control === "must-refetch" && refetches++,
      ),
    );
    s10.subscribe((msgs) =>
      msgs.forEach((m: any) =>
        m.key ? keys10.push(`${m.headers.operation}:${m.key}`) : m.headers.control === "must-refetch" && refetches++,
      ),
    );
    const shape15 = new Shape(s15);
    const shape10 = new Shape10(s10);
    expect((await shape15.rows).length).toBe(5);
    expect((await shape10.rows).length).toBe(5);
    await pool.query(`INSERT INTO jobs VALUES (6, 'v6')`);
    await vi.waitFor(() => expect(shape15.currentRows.length + shape10.currentRows.length).toBe(12), {
      timeout: 10_000,
    });
    const handle = s15.shapeHandle;

    await kill9();
    await pool.query(`INSERT INTO jobs VALUES (7, 'v7')`);
    await pool.query(`UPDATE jobs SET v = 'changed' WHERE id = 1`);
    await pool.query(`DELETE FROM jobs WHERE id = 2`);
    await startChild();
    await pool.query(`INSERT INTO jobs VALUES (8, 'v8')`);

    const expected = [1, 3, 4, 5, 6, 7, 8];
    await vi.waitFor(
      () => {
        expect(shape15.currentRows.map((r: any) => r.id).sort((a: number, b: number) => a - b)).toEqual(expected);
        expect(shape10.currentRows.map((r: any) => r.id).sort((a: number, b: number) => a - b)).toEqual(expected);
      },
      { timeout: 25_000, interval: 100 },
    );
    expect(s15.shapeHandle).toBe(handle);
    expect(refetches).toBe(0);
    for (const keys of [keys15, keys10]) {
      expect(new Set(keys).size).toBe(keys.length);
      expect(keys.filter((k) => k.startsWith("insert:")).length).toBe(8);
    }
    expect(shape15.currentRows.find((r: any) => r.id === 1)).toMatchObject({ v: "changed" });
    a15.abort();
    a10.abort();
  }, 60_000);
});
