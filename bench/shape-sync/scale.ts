/**
 * (3) Scale and (4) recovery, server in its own process:
 *  - RSS per shape and per waiting live request (RSS deltas / count);
 *  - per-change cost = server CPU time (utime+stime from /proc) / changes, for the same updates
 *    (rows of the first 100 shapes) with 100 shapes and with N shapes registered;
 *  - kill -9 with N shapes, restart: time to health active, to the first live request served with a
 *    new change, and to all N resumed live requests answered.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { setMaxListeners } from "node:events";
import { createShape, freePort, memory, metric, pool as inParallel, seedRuns, shapeQuery, spawnServer, waitFor, type ChildServer } from "./common.js";

export interface ScaleResult {
  baseline: number;
  heapPerShape: number;
  heapPerRequest: number;
  perShape: number;
  perRequest: number;
  costSmall: number;
  costLarge: number;
  createRate: number;
  restartHealthyMs: number;
  restartServedMs: number;
  restartAllMs: number;
  resumed: number;
  retries: number;
  rawStartMs: number;
}

const TICKS = 100; // USER_HZ
function cpuMicros(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) / TICKS) * 1e6;
}

interface Waiter {
  i: number;
  handle: string;
  offset: string;
  cursor: string;
}

export async function benchScale(databaseUrl: string, n: number): Promise<ScaleResult> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  const storageDir = mkdtempSync(join(tmpdir(), "shape-sync-bench-scale-"));
  const port = await freePort();
  const where = "id = $1";
  const params = (i: number) => [`sc_${i}`];
  let server: ChildServer = await spawnServer({ databaseUrl, storageDir, streamId: "bench_scale", port, longPollMs: 120_000 });
  let ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const waiters: Waiter[] = [];
  const startWaiter = (w: Waiter, parent: AbortSignal) =>
    (async () => {
      const mine = new AbortController();
      parent.addEventListener("abort", () => mine.abort(), { once: true });
      setMaxListeners(0, mine.signal);
      const signal = mine.signal;
      while (!signal.aborted) {
        try {
          const r = await fetch(`${server.url}/v1/shape?${shapeQuery(where, params(w.i), w.handle, w.offset, true, w.cursor)}`, { signal });
          await r.arrayBuffer();
          if (r.status === 200) {
            w.offset = r.headers.get("electric-offset")!;
            w.cursor = r.headers.get("electric-cursor") ?? "";
          } else await new Promise((res) => setTimeout(res, 100));
        } catch {
          if (signal.aborted) return;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    })();
  const K = 30_000;
  const churn = async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `sc_${i}`);
    const before = await metric(server.url, "shape_sync_changes_applied_total");
    const cpu0 = cpuMicros(server.pid);
    for (let done = 0; done < K; done += 100) await db.query(`UPDATE "TaskRun" SET "updatedAt" = now(), "usageDurationMs" = "usageDurationMs" + 1 WHERE id = ANY($1)`, [ids]);
    await waitFor(async () => (await metric(server.url, "shape_sync_changes_applied_total")) >= before + K, 120_000, "churn to be applied");
    await new Promise((r) => setTimeout(r, 300)); // let the woken requests' responses finish (they count as per-change cost)
    return (cpuMicros(server.pid) - cpu0) / K;
  };
  try {
    await seedRuns(db, "sc_", n, () => "sc_env");
    const baseline = await memory(server.url, server.pid);
    const create = async (from: number, to: number) =>
      inParallel(Array.from({ length: to - from }, (_, k) => from + k), 16, async (i) => {
        const s = await createShape(server.url, where, params(i));
        waiters[i] = { i, handle: s.handle, offset: s.offset, cursor: "" };
      });
    await create(0, 100);
    for (let i = 0; i < 100; i++) void startWaiter(waiters[i]!, ac.signal);
    await waitFor(async () => (await metric(server.url, "shape_sync_live_waiters")) >= 100, 30_000, "100 waiters");
    const costSmall = await churn();

    const tc = performance.now();
    await create(100, n);
    const createRate = (n - 100) / ((performance.now() - tc) / 1000);
    const memShapes = await memory(server.url, server.pid);
    for (let i = 100; i < n; i++) void startWaiter(waiters[i]!, ac.signal);
    await waitFor(async () => (await metric(server.url, "shape_sync_live_waiters")) >= n - 5, 120_000, `${n} waiters`);
    const memRequests = await memory(server.url, server.pid);
    const costLarge = await churn();

    // (4) kill -9 and restart with n shapes.
    ac.abort();
    await server.kill("SIGKILL");
    ac = new AbortController();
    setMaxListeners(0, ac.signal);
    const t0 = performance.now();
    // The restarted server logs at info to a file, so the startup phases can be read afterwards.
    const nextServer = spawnServer({ databaseUrl, storageDir, streamId: "bench_scale", port, longPollMs: 120_000, logFile: process.env.BENCH_RESTART_LOG });
    server = await nextServer;
    const restartHealthyMs = performance.now() - t0;
    // Resume every client at its last offset, then commit one change per shape.
    let served = 0;
    let firstServed = 0;
    let allServed = 0;
    let retries = 0;
    const resumes = waiters.map(async (w) => {
      // Like a client: retry network errors (pooled keep-alive sockets to the killed process reset).
      let r: Response | undefined;
      for (let attempt = 0; !r; attempt++) {
        try {
          r = await fetch(`${server.url}/v1/shape?${shapeQuery(where, params(w.i), w.handle, w.offset, true, w.cursor)}`, { signal: ac.signal });
        } catch (e) {
          if (attempt >= 5) throw e;
          retries++;
        }
      }
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`resume got ${r.status}`);
      served++;
      if (served === 1) firstServed = performance.now() - t0;
      if (served === waiters.length) allServed = performance.now() - t0;
    });
    for (let start = 0; start < n; start += 1000)
      await db.query(`UPDATE "TaskRun" SET "updatedAt" = now() WHERE id = ANY($1)`, [Array.from({ length: Math.min(1000, n - start) }, (_, k) => `sc_${start + k}`)]);
    await Promise.all(resumes);

    const tr = performance.now();
    await new Promise<void>((res) => spawn(process.execPath, ["--import", "tsx", "-e", "0"], { stdio: "ignore" }).once("exit", () => res()));
    const rawStartMs = performance.now() - tr;
    return {
      baseline: baseline.rss,
      perShape: (memShapes.rss - baseline.rss) / n,
      perRequest: (memRequests.rss - memShapes.rss) / (n - 100),
      heapPerShape: (memShapes.heap - baseline.heap) / n,
      heapPerRequest: (memRequests.heap - memShapes.heap) / (n - 100),
      costSmall,
      costLarge,
      createRate,
      restartHealthyMs,
      restartServedMs: firstServed,
      restartAllMs: allServed,
      resumed: served,
      retries,
      rawStartMs,
    };
  } finally {
    ac.abort();
    await server.kill("SIGTERM");
    await db.end();
    rmSync(storageDir, { recursive: true, force: true });
  }
}
