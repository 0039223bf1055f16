/** Test fixtures: a fresh database, a temp storage dir and an in-process shape server (house rule 10). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "@runfeed/devstack/test-context";
import { startShapeServer, type ShapeServer, type ShapeServerOptions } from "../src/server.js";

export interface ServerHarness {
  db: TestDatabase;
  pool: pg.Pool;
  storageDir: string;
  streamId: string;
  server: ShapeServer;
  start(extra?: Partial<ShapeServerOptions>): Promise<ShapeServer>;
  close(): Promise<void>;
}

export async function createHarness(extra: Partial<ShapeServerOptions> = {}): Promise<ServerHarness> {
  const db = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: 4 });
  const storageDir = mkdtempSync(join(tmpdir(), "shape-sync-test-"));
  const streamId = `t${randomBytes(4).toString("hex")}`;
  const opts = (more?: Partial<ShapeServerOptions>): ShapeServerOptions => ({
    databaseUrl: db.url,
    storageDir,
    port: 0,
    host: "127.0.0.1",
    replicationStreamId: streamId,
    longPollTimeoutMs: 3_000,
    logLevel: "warn",
    enableIntegrationTesting: true,
    ...extra,
    ...more,
  });
  const h: ServerHarness = {
    db,
    pool,
    storageDir,
    streamId,
    server: undefined as unknown as ShapeServer,
    async start(more) {
      h.server = await startShapeServer(opts(more));
      await h.server.ready;
      return h.server;
    },
    async close() {
      await h.server?.stop();
      await waitForSlotsInactive(pool);
      await pool.end();
      await db.drop();
      rmSync(storageDir, { recursive: true, force: true });
    },
  };
  await h.start();
  return h;
}

export async function fetchJson(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not json */
  }
  return { status: res.status, headers: res.headers, body };
}

/** Walsenders of a stopped/killed server take a moment to exit; slots must be inactive before dropping the DB. */
export async function waitForSlotsInactive(pool: pg.Pool, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await pool.query(
      "SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = current_database() AND active",
    );
    if (r.rows[0].n === 0 || Date.now() > deadline) return;
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** mulberry32: a small seeded PRNG, so randomized tests check the same cases on every run. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The messages of an SSE shape response, one batch per network read, until the server ends it. */
export async function* sseMessages(res: Response): AsyncGenerator<any[]> {
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    const events = buffer.split("\n\n");
    buffer = events.pop()!;
    yield events.flatMap((e) =>
      e
        .split("\n")
        .filter((l) => l.startsWith("data: "))
        .map((l) => JSON.parse(l.slice(6))),
    );
  }
}
