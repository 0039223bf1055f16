/**
 * (3) Scale and (4) recovery, server in its own process:
 *  - RSS per shape and per waiting live request: RSS deltas / count, from a server warmed up with
 *    100 shapes, 99 live requests and 30,000 changes (so one-off growth is not charged per shape);
 *  - per-change cost = server CPU time (utime+stime from /proc) / changes, for the same updates
 *    (rows of the first 100 shapes) with 100 shapes and with N shapes registered;
 *  - kill -9 with N shapes, restart: time to health active; while the N clients (a load generator in
 *    its own process) reconnect at once, time until a probe client's live request is answered with a
 *    change committed right after health went active, and until all N resumed requests are answered.
 */
import { ELECTRIC_OFFSET_HEADER, ELECTRIC_UP_TO_DATE_HEADER } from "../../packages/core/src/index.js";
import { fork, spawn } from "node:child_process";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import {
  createShape,
  freePort,
  memory,
  metric,
  pool as inParallel,
  rssBytes,
  seedRuns,
  shapeQuery,
  spawnServer,
  waitFor,
  type ChildServer,
} from "./common.js";
import type { Waiter } from "./waiters.js";

export interface ScaleResult {
  baseline: number;
  /** RSS after the warm-up (100 shapes, 99 live requests, the first churn): the "before" of the per-shape figure. */
  warm: number;
  /** The same per-shape figure measured from the fresh process instead of the warmed-up one. */
  perShapeFromStart: number;
  heapPerShape: number;
  heapPerRequest: number;
  perShape: number;
  perRequest: number;
  costSmall: number;
  costLarge: number;
  createRate: number;
  restartHealthyMs: number;
  /** A probe client's live request answered with a change committed right after health went active. */
  restartProbeMs: number;
  /** All of the load generator's resumed live requests parked on the server again. */
  restartParkedMs: number;
  /** The first / middle / last of them answered with a change (rows updated in 1,000-row transactions once all were parked). */
  restartFirstMs: number;
  restartHalfMs: number;
  restartAllMs: number;
  resumed: number;
  rawStartMs: number;
  /** RSS per held request of a bare node:http server that answers nothing, same load generator. */
  rawPerRequest: number;
}

const TICKS = 100; // USER_HZ
function cpuMicros(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(f[11]) + Number(f[12])) / TICKS) * 1e6;
}

const WHERE = "id = $1";
const params = (i: number) => [`sc_${i}`];
const now = () => performance.timeOrigin + performance.now();

/** The waiter load generator (./waiters.ts) in its own process. */
function spawnWaiters() {
  const child = fork(join(import.meta.dirname, "waiters.ts"), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const served = new Map<number, number>();
  const listeners = new Set<() => void>();
  child.on("message", (m: { type: "served"; at: number; count: number }) => {
    served.set(m.count, m.at);
    for (const l of listeners) l();
  });
  return {
    hold: (url: string, waiters?: Waiter[]) => {
      served.clear();
      child.send({ type: "hold", url, where: WHERE, waiters });
    },
    drop: () => child.send({ type: "drop" }),
    /** Wall-clock time at which `count` held requests had had a 200 with data. */
    servedAt: (count: number, timeoutMs: number) =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${Math.max(0, ...served.keys())} of ${count} resumed requests served`)),
          timeoutMs,
        );
        const check = () => {
          const at = served.get(count);
          if (at === undefined) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve(at);
        };
        listeners.add(check);
        check();
      }),
    stop: () => child.kill(),
  };
}

const BARE_SERVER = `
const http = require("node:http");
let held = 0;
const server = http.createServer((req, res) => {
  if (req.url === "/held") return res.end(String(held));
  held++;
  res.once("close", () => held--);
});
server.keepAliveTimeout = 65000;
server.requestTimeout = 0;
server.listen(0, "127.0.0.1", () => process.send(server.address().port));
`;

async function bareServerRssPerRequest(load: ReturnType<typeof spawnWaiters>, waiters: Waiter[]): Promise<number> {
  const child = spawn(process.execPath, ["-e", BARE_SERVER], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  try {
    const port = await new Promise<number>((res) => child.once("message", (p) => res(p as number)));
    const url = `http://127.0.0.1:${port}`;
    await fetch(`${url}/held`).then((r) => r.text());
    const before = rssBytes(child.pid!);
    load.hold(url, waiters);
    await waitFor(
      async () => Number(await fetch(`${url}/held`).then((r) => r.text())) >= waiters.length,
      120_000,
      "bare server to hold every request",
    );
    const after = rssBytes(child.pid!);
    load.drop();
    return (after - before) / waiters.length;
  } finally {
    child.kill();
  }
}

/** Follows a shape non-live until up-to-date; returns the offset reached. */
async function catchUp(url: string, i: number, handle: string, offset: string): Promise<string> {
  for (;;) {
    const r = await fetch(`${url}/v1/shape?${shapeQuery(WHERE, params(i), handle, offset, false)}`);
    await r.arrayBuffer();
    offset = r.headers.get(ELECTRIC_OFFSET_HEADER)!;
    if (r.headers.has(ELECTRIC_UP_TO_DATE_HEADER)) return offset;
  }
}

export async function benchScale(databaseUrl: string, n: number): Promise<ScaleResult> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  const storageDir = mkdtempSync(join(tmpdir(), "shape-sync-bench-scale-"));
  const port = await freePort();
  let server: ChildServer = await spawnServer({
    databaseUrl,
    storageDir,
    streamId: "bench_scale",
    port,
    longPollMs: 120_000,
  });
  const load = spawnWaiters();
  const waiters: Waiter[] = [];
  const K = 30_000;
  const churn = async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `sc_${i}`);
    const before = await metric(server.url, "shape_sync_changes_applied_total");
    const cpu0 = cpuMicros(server.pid);
    for (let done = 0; done < K; done += 100)
      await db.query(
        `UPDATE "TaskRun" SET "updatedAt" = now(), "usageDurationMs" = "usageDurationMs" + 1 WHERE id = ANY($1)`,
        [ids],
      );
    await waitFor(
      async () => (await metric(server.url, "shape_sync_changes_applied_total")) >= before + K,
      120_000,
      "churn to be applied",
    );
    await new Promise((r) => setTimeout(r, 300)); // let the woken requests' responses finish (they count as per-change cost)
    return (cpuMicros(server.pid) - cpu0) / K;
  };
  try {
    await seedRuns(db, "sc_", n, () => "sc_env");
    const baseline = await memory(server.url, server.pid);
    const create = async (from: number, to: number) =>
      inParallel(
        Array.from({ length: to - from }, (_, k) => from + k),
        16,
        async (i) => {
          const s = await createShape(server.url, WHERE, params(i));
          waiters[i] = { i, handle: s.handle, offset: s.offset, cursor: "" };
        },
      );
    // Shape 0 is the recovery probe, held by this process; the load generator holds the others.
    await create(0, 100);
    load.hold(server.url, waiters.slice(1, 100));
    await waitFor(async () => (await metric(server.url, "shape_sync_live_waiters")) >= 99, 30_000, "99 waiters");
    const costSmall = await churn();
    // Marginal cost: "before" is the warmed-up server (young generation grown, code optimised, caches filled).
    const warm = await memory(server.url, server.pid);

    const tc = performance.now();
    await create(100, n);
    const createRate = (n - 100) / ((performance.now() - tc) / 1000);
    const memShapes = await memory(server.url, server.pid);
    load.hold(server.url, waiters.slice(1));
    await waitFor(async () => (await metric(server.url, "shape_sync_live_waiters")) >= n - 5, 120_000, `${n} waiters`);
    const memRequests = await memory(server.url, server.pid);
    const costLarge = await churn();

    // (4) kill -9 and restart with n shapes; every client resumes at its offset when the server is back.
    const probe = waiters[0]!;
    probe.offset = await catchUp(server.url, 0, probe.handle, probe.offset);
    load.drop();
    await server.kill("SIGKILL");
    const t0 = now();
    // The restarted server logs at info to a file, so the startup phases can be read afterwards.
    server = await spawnServer({
      databaseUrl,
      storageDir,
      streamId: "bench_scale",
      port,
      longPollMs: 120_000,
      logFile: process.env.BENCH_RESTART_LOG,
    });
    const healthyAt = now();
    load.hold(server.url);
    // The probe resumes among the reconnecting clients, then one change lands on its row.
    const probeServed = (async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await fetch(
            `${server.url}/v1/shape?${shapeQuery(WHERE, params(0), probe.handle, probe.offset, true)}`,
          );
          const body = await r.text();
          if (r.status !== 200 || !body.includes('"update"'))
            throw new Error(`probe got ${r.status}: ${body.slice(0, 200)}`);
          return now();
        } catch (e) {
          if (attempt >= 5) throw e;
        }
      }
    })();
    await db.query(`UPDATE "TaskRun" SET "updatedAt" = now() WHERE id = 'sc_0'`);
    const probeAt = await probeServed;
    // Every client is back once all resumed requests are parked on the server again.
    await waitFor(
      async () => (await metric(server.url, "shape_sync_live_waiters")) >= n - 1,
      120_000,
      "resumed requests to be parked",
    );
    const parkedAt = now();
    for (let start = 1; start < n; start += 1000)
      await db.query(`UPDATE "TaskRun" SET "updatedAt" = now() WHERE id = ANY($1)`, [
        Array.from({ length: Math.min(1000, n - start) }, (_, k) => `sc_${start + k}`),
      ]);
    const firstAt = await load.servedAt(1, 120_000);
    const halfAt = await load.servedAt(Math.ceil((n - 1) / 2), 120_000);
    const allAt = await load.servedAt(n - 1, 120_000);

    const tr = performance.now();
    await new Promise<void>((res) =>
      spawn(process.execPath, ["-e", "0"], { stdio: "ignore" }).once("exit", () => res()),
    );
    const rawStartMs = performance.now() - tr;

    // Raw limit for memory: a bare node:http server holding the same clients' requests.
    load.drop();
    const rawPerRequest = await bareServerRssPerRequest(load, waiters.slice(1));
    return {
      baseline: baseline.rss,
      warm: warm.rss,
      perShape: (memShapes.rss - warm.rss) / (n - 100),
      perShapeFromStart: (memShapes.rss - baseline.rss) / n,
      perRequest: (memRequests.rss - memShapes.rss) / (n - 100),
      heapPerShape: (memShapes.heap - warm.heap) / (n - 100),
      heapPerRequest: (memRequests.heap - memShapes.heap) / (n - 100),
      costSmall,
      costLarge,
      createRate,
      restartHealthyMs: healthyAt - t0,
      restartProbeMs: probeAt - t0,
      restartParkedMs: parkedAt - t0,
      restartFirstMs: firstAt - t0,
      restartHalfMs: halfAt - t0,
      restartAllMs: allAt - t0,
      resumed: n - 1,
      rawStartMs,
      rawPerRequest,
    };
  } finally {
    load.stop();
    await server.kill("SIGTERM");
    await db.end();
    rmSync(storageDir, { recursive: true, force: true });
  }
}
