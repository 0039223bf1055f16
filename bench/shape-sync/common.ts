/** Shared helpers for the shape-sync benchmarks: child server process, RSS, metrics, percentiles. */
import { spawn, type ChildProcess } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type pg from "pg";
import {
  RUN_STREAM_COLUMNS,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_OFFSET_HEADER,
  ELECTRIC_UP_TO_DATE_HEADER,
} from "../../packages/core/src/index.js";
import { shapeSyncEntry } from "../../packages/devstack/src/shape-sync.js";

export const ROOT = resolve(import.meta.dirname, "../..");
export const RUN_COLUMNS_PARAM = RUN_STREAM_COLUMNS.map((c) => `"${c}"`).join(",");
export const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/** Children we spawned, killed if the benchmark itself is interrupted. */
const children = new Set<ChildProcess>();
for (const sig of ["SIGINT", "SIGTERM"] as const)
  process.once(sig, () => {
    for (const c of children) c.kill("SIGKILL");
    process.exit(130);
  });
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

export interface ChildServer {
  url: string;
  pid: number;
  proc: ChildProcess;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Spawns the built shape server (node apps/shape-sync/dist/main.js, so the pid is the server itself). */
export async function spawnServer(opts: {
  databaseUrl: string;
  storageDir: string;
  streamId: string;
  port: number;
  longPollMs?: number;
  logFile?: string;
}): Promise<ChildServer> {
  const out = opts.logFile ? openSync(opts.logFile, "a") : "ignore";
  // BENCH_SERVER_NODE_ARGS adds node flags to the server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const extraArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const proc = spawn(process.execPath, ["--expose-gc", ...extraArgs, shapeSyncEntry()], {
    cwd: join(ROOT, "apps/shape-sync"),
    env: {
      ...process.env,
      DATABASE_URL: opts.databaseUrl,
      ELECTRIC_PORT: String(opts.port),
      ELECTRIC_STORAGE_DIR: opts.storageDir,
      ELECTRIC_REPLICATION_STREAM_ID: opts.streamId,
      ELECTRIC_LONG_POLL_TIMEOUT: String(opts.longPollMs ?? 20_000),
      ELECTRIC_MAX_CONCURRENT_REQUESTS: JSON.stringify({ initial: 5_000, existing: 100_000 }),
      LOG_LEVEL: opts.logFile ? "info" : "warn",
    },
    stdio: ["ignore", out, "inherit"],
  });
  children.add(proc);
  proc.once("exit", () => children.delete(proc));
  const url = `http://127.0.0.1:${opts.port}`;
  await waitHealthy(url, 120_000);
  return {
    url,
    pid: proc.pid!,
    proc,
    kill: (signal = "SIGTERM") =>
      new Promise<void>((res) => {
        if (proc.exitCode !== null) return res();
        proc.once("exit", () => res());
        proc.kill(signal);
      }),
  };
}

export async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const r = await fetch(`${url}/v1/health`);
      const body = (await r.json()) as { status: string };
      if (body.status === "active") return;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`server at ${url} not healthy in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return Number(m![1]) * 1024;
}

/** Forces a GC in the server (started with --expose-gc), then reads RSS and V8 heap used. */
export async function memory(url: string, pid: number): Promise<{ rss: number; heap: number }> {
  const text = await fetch(`${url}/metrics?gc=1`).then((r) => r.text());
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return { rss: rssBytes(pid), heap: m ? Number(m[1]) : NaN };
}

export async function metric(url: string, name: string): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  return m ? Number(m[1]) : NaN;
}

export async function waitFor(
  cond: () => Promise<boolean> | boolean,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `fn` over items with at most `n` in flight. */
export async function pool<T>(items: T[], n: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** Creates a shape (`offset=-1` then catch-up to up-to-date); returns its handle and the up-to-date offset. */
export async function createShape(
  url: string,
  where: string,
  params: string[],
): Promise<{ handle: string; offset: string }> {
  const q = new URLSearchParams({ table: `public."TaskRun"`, columns: RUN_COLUMNS_PARAM, where, offset: "-1" });
  params.forEach((p, i) => q.set(`params[${i + 1}]`, p));
  let r = await fetch(`${url}/v1/shape?${q}`);
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`shape creation failed: ${r.status}`);
  const handle = r.headers.get(ELECTRIC_HANDLE_HEADER)!;
  let offset = r.headers.get(ELECTRIC_OFFSET_HEADER)!;
  for (;;) {
    q.set("offset", offset);
    q.set("handle", handle);
    r = await fetch(`${url}/v1/shape?${q}`);
    await r.arrayBuffer();
    offset = r.headers.get(ELECTRIC_OFFSET_HEADER)!;
    if (r.headers.has(ELECTRIC_UP_TO_DATE_HEADER)) return { handle, offset };
  }
}

export function shapeQuery(
  where: string,
  params: string[],
  handle: string,
  offset: string,
  live: boolean,
  cursor = "",
): string {
  const q = new URLSearchParams({ table: `public."TaskRun"`, columns: RUN_COLUMNS_PARAM, where, offset, handle });
  params.forEach((p, i) => q.set(`params[${i + 1}]`, p));
  if (live) {
    q.set("live", "true");
    q.set("cursor", cursor);
  }
  return q.toString();
}

export async function seedRuns(
  db: pg.Pool,
  prefix: string,
  count: number,
  envOf: (i: number) => string,
): Promise<void> {
  for (let start = 0; start < count; start += 5000) {
    const n = Math.min(5000, count - start);
    await db.query(
      `INSERT INTO "TaskRun" (id, "taskIdentifier", "updatedAt", "friendlyId", payload, "runtimeEnvironmentId", "projectId", "runTags", metadata, output)
       SELECT $1 || g, 'bench-task', now(), 'run_' || $1 || g, '{"hello":"world","n":' || g || '}', ($2::text[])[g - $3 + 1], 'proj', ARRAY['tag:' || (g % 10)], '{"progress":0}', NULL
       FROM generate_series($3::int, $4::int) g`,
      [prefix, Array.from({ length: n }, (_, k) => envOf(start + k)), start, start + n - 1],
    );
  }
}
