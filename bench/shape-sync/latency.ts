/**
 * (2) Latency: S shapes (`id = $1`, run columns), each with one live long-poll client; R single-row
 * updates/s spread over them, each writing a timestamp into "output". Latency = client receive time
 * − timestamp taken just before the UPDATE was sent (same clock). Raw: the UPDATE round trip itself.
 */
import { ELECTRIC_CURSOR_HEADER, ELECTRIC_OFFSET_HEADER } from "../../packages/core/src/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { setMaxListeners } from "node:events";
import {
  createShape,
  freePort,
  metric,
  percentile,
  pool as inParallel,
  seedRuns,
  shapeQuery,
  spawnServer,
} from "./common.js";

export interface LatencyResult {
  p50: number;
  p99: number;
  samples: number;
  rawP50: number;
  rawP99: number;
  achievedRate: number;
  /** shape_sync_compactions_total at the end of the run. */
  compactions: number;
}

const now = () => performance.timeOrigin + performance.now();

export async function benchLatency(
  databaseUrl: string,
  shapes: number,
  rate: number,
  durationS: number,
): Promise<LatencyResult> {
  // Default synchronous_commit: with it off, the walsender only sees a commit after the WAL writer
  // flushes it (wal_writer_delay, 200 ms), which would dominate the figure.
  const db = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  const storageDir = mkdtempSync(join(tmpdir(), "shape-sync-bench-lat-"));
  const server = await spawnServer({
    databaseUrl,
    storageDir,
    streamId: "bench_lat",
    port: await freePort(),
    longPollMs: 20_000,
  });
  const ac = new AbortController();
  setMaxListeners(0, ac.signal);
  try {
    await seedRuns(db, "lat_", shapes, () => "lat_env");
    const where = "id = $1";
    const state = new Array<{ handle: string; offset: string; cursor: string }>(shapes);
    await inParallel(
      Array.from({ length: shapes }, (_, i) => i),
      16,
      async (i) => {
        const s = await createShape(server.url, where, [`lat_${i}`]);
        state[i] = { ...s, cursor: "" };
      },
    );
    let recording = false;
    const latencies: number[] = [];
    const loops = state.map(async (st, i) => {
      // One controller per client (fetch leaves a listener on the signal per request until GC).
      const mine = new AbortController();
      ac.signal.addEventListener("abort", () => mine.abort(), { once: true });
      setMaxListeners(0, mine.signal);
      while (!ac.signal.aborted) {
        try {
          const r = await fetch(
            `${server.url}/v1/shape?${shapeQuery(where, [`lat_${i}`], st.handle, st.offset, true, st.cursor)}`,
            { signal: mine.signal },
          );
          const body = (await r.json()) as Array<{ key?: string; value?: Record<string, string | null> }>;
          const t = now();
          if (r.status !== 200) throw new Error(`live request ${r.status}`);
          st.offset = r.headers.get(ELECTRIC_OFFSET_HEADER)!;
          st.cursor = r.headers.get(ELECTRIC_CURSOR_HEADER) ?? "";
          if (recording) for (const m of body) if (m.key && m.value?.output) latencies.push(t - Number(m.value.output));
        } catch (e) {
          if (ac.signal.aborted) return;
          throw e;
        }
      }
    });
    loops.forEach((l) => l.catch((e) => console.error("latency client failed:", e)));

    // Writer: R updates/s in 10 ms ticks, single-row UPDATEs over 8 connections.
    const rawTimes: number[] = [];
    let sent = 0;
    const perTick = rate / 100;
    const inflight = new Set<Promise<void>>();
    const warmupMs = 2000;
    const start = now();
    let recStart = 0;
    let tick = 0;
    while (now() - start < warmupMs + durationS * 1000) {
      if (!recording && now() - start >= warmupMs) {
        recording = true;
        recStart = now();
        sent = 0;
      }
      const target = Math.floor((tick + 1) * perTick) - Math.floor(tick * perTick);
      for (let k = 0; k < target; k++) {
        if (inflight.size >= 32) break; // never queue behind the pool: the timestamp must be the commit's
        const row = Math.floor(Math.random() * shapes);
        const t0 = now();
        // The timestamp is taken inside the UPDATE (clock_timestamp(), same machine clock), just before commit.
        const p = db
          .query(
            `UPDATE "TaskRun" SET output = (extract(epoch from clock_timestamp()) * 1000)::text, "updatedAt" = now() WHERE id = $1`,
            [`lat_${row}`],
          )
          .then(() => {
            if (recording) rawTimes.push(now() - t0);
          });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        sent++;
      }
      tick++;
      const nextAt = start + tick * 10;
      const wait = nextAt - now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    const achievedRate = sent / ((now() - recStart) / 1000);
    await Promise.all(inflight);
    recording = false;
    await new Promise((r) => setTimeout(r, 300)); // let in-flight deliveries land (excluded from samples)
    latencies.sort((a, b) => a - b);
    rawTimes.sort((a, b) => a - b);
    return {
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      samples: latencies.length,
      rawP50: percentile(rawTimes, 50),
      rawP99: percentile(rawTimes, 99),
      achievedRate,
      compactions: await metric(server.url, "shape_sync_compactions_total"),
    };
  } finally {
    ac.abort();
    await server.kill("SIGTERM");
    await db.end();
    rmSync(storageDir, { recursive: true, force: true });
  }
}
