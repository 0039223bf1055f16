/**
 * The write API: metadata increments and triggers per second through HTTP beside raw single-row UPDATEs.
 * Loopback only, bounded in time (~6 × --seconds plus start-up):
 *
 *   pnpm bench write-api [--seconds 5] [--clients 8] [--dev]
 *
 * Prints, on one Postgres, in one run:
 *   - raw single-row UPDATE rate: 8 pg clients, each `UPDATE "TaskRun" … WHERE id = $1` on its own row,
 *     one statement (one commit) per round trip, default fsync — measured before AND after our figures,
 *     the mean is the reference (the machine is shared and noisy);
 *   - metadata increments/s through HTTP: N clients, each PUT /api/v1/runs/:id/metadata with one
 *     increment on its own run (the SDK's per-task flush), and the exact sum checked afterwards;
 *   - the same with all N clients on ONE run (contention), sum checked;
 *   - triggers/s through HTTP: N clients POST /api/v1/tasks/:id/trigger;
 * each beside the raw rate as a ratio (goal ≥ 0.5).
 *
 * The webapp runs as a child process (its own event loop/core, like production) from its production
 * build, built first when stale as `pnpm start` does (--dev: Vite dev mode instead). Uses DATABASE_URL /
 * REDIS_URL when set (a fresh database is created on that server and dropped afterwards), else starts
 * embedded Postgres (wal_level=logical) in a temp folder and redis-server.
 */
import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import getPort from "get-port";
import pg from "pg";
import { createPrismaClient, migrate } from "../../packages/database/src/index.js";
import { createDatabase, postgresServer, redisServer } from "../../packages/devstack/src/services.js";
import { waitForPort } from "../../packages/devstack/src/redis.js";
import { WEBAPP_BUILD, ensureBuilt } from "../../packages/devstack/src/builds.js";
import { BenchReport, round } from "../report.js";
import { seedProject } from "../../apps/webapp/app/services/seed.server.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const SECONDS = Math.min(Math.max(arg("seconds", 5), 1), 30);
const CLIENTS = Math.min(Math.max(arg("clients", 8), 1), 64);
const RAW_CLIENTS = 8;
const FORCE_DEV = process.argv.includes("--dev");
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

const stops: Array<() => Promise<void>> = [];
let child: ChildProcess | undefined;

async function main() {
  // ---- services
  const postgres = await postgresServer(process.env.DATABASE_URL, "runfeed-bench");
  stops.push(postgres.stop);
  const serverUrl = postgres.url;
  const database = await createDatabase(serverUrl, `bench_write_${randomBytes(4).toString("hex")}`);
  stops.push(database.drop);
  const databaseUrl = database.url;
  const redis = await redisServer(process.env.REDIS_URL);
  stops.push(redis.stop);
  const redisUrl = redis.url;
  await migrate(databaseUrl);
  const prisma = createPrismaClient(databaseUrl, { max: 2 });
  const project = await seedProject(prisma, {
    orgSlug: "bench",
    orgTitle: "Bench",
    projectSlug: "bench",
    projectName: "Bench",
  });
  await prisma.$disconnect();
  const key = project.environments.find((e) => e.slug === "prod")!.apiKey;

  // ---- webapp (child process)
  const production = !FORCE_DEV;
  if (production) await ensureBuilt(WEBAPP_BUILD, (line) => console.log(line));
  const port = await getPort();
  const profile = process.argv.includes("--cpu-prof")
    ? ["--cpu-prof", "--cpu-prof-dir", join(tmpdir(), "runfeed-bench-prof")]
    : [];
  child = spawn(process.execPath, [...profile, "--import", "tsx", "server/index.ts"], {
    cwd: join(ROOT, "apps/webapp"),
    env: {
      ...process.env,
      NODE_ENV: production ? "production" : "development",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: "bench:",
      LOG_LEVEL: "warn",
      WORKER_ENABLED: "false",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  await waitForPort(port, 60_000);
  const base = `http://127.0.0.1:${port}`;
  await until(async () => (await fetch(`${base}/healthz`)).ok, 60_000);
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json", "trigger-version": "4.8.3" };
  // node:http on a keep-alive agent (one socket per client): the load generator shares the machine
  // with the webapp, and undici's fetch costs it ~2 ms CPU per request here, http.request far less.
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS + 1 });
  const send = (method: string, path: string, body?: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        `${base}${path}`,
        {
          method,
          agent,
          headers: body === undefined ? headers : { ...headers, "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await send(method, path, body === undefined ? undefined : JSON.stringify(body));
    if (res.status < 200 || res.status >= 300) throw new Error(`${method} ${path} → ${res.status} ${res.text}`);
    return JSON.parse(res.text) as any;
  };
  const trigger = (task: string) =>
    call("POST", `/api/v1/tasks/${task}/trigger`, { payload: '{"bench":true}', options: { tags: ["bench"] } });

  // Warm up every route (Vite compiles modules on first use in dev mode; JIT in both).
  const warm = (await trigger("warmup")).id as string;
  for (let i = 0; i < 50; i++)
    await call("PUT", `/api/v1/runs/${warm}/metadata`, { operations: [{ type: "increment", key: "n", value: 1 }] });
  for (let i = 0; i < 50; i++) await trigger("warmup");

  const runIds: string[] = [];
  for (let i = 0; i < Math.max(CLIENTS, RAW_CLIENTS); i++) runIds.push((await trigger("bench-task")).id);
  const internal = await withClient(databaseUrl, async (c) =>
    (
      await c.query<{ id: string }>(`SELECT "id" FROM "TaskRun" WHERE "friendlyId" = ANY($1) ORDER BY "friendlyId"`, [
        runIds,
      ])
    ).rows.map((r) => r.id),
  );

  // ---- sequential latency probe (one client), to see where time goes
  const probe = async (label: string, fn: () => Promise<unknown>) => {
    const t = performance.now();
    for (let i = 0; i < 30; i++) await fn();
    const ms = (performance.now() - t) / 30;
    latencies.push(`${label} ${ms.toFixed(1)} ms`);
    latencyMs[label] = round(ms, 1);
  };
  const latencyMs: Record<string, number | null> = {};
  const latencies: string[] = [];
  await probe("healthz", () => send("GET", "/healthz"));
  await probe("GET metadata", () => call("GET", `/api/v1/runs/${warm}/metadata`));
  await probe("PUT metadata", () =>
    call("PUT", `/api/v1/runs/${warm}/metadata`, { operations: [{ type: "increment", key: "n", value: 1 }] }),
  );
  await probe("trigger", () => trigger("warmup"));

  // ---- measurements
  const rawBefore = await rawUpdates(databaseUrl, internal.slice(0, RAW_CLIENTS));

  const perRun = await loop(CLIENTS, async (c) => {
    await call("PUT", `/api/v1/runs/${runIds[c]}/metadata`, {
      operations: [{ type: "increment", key: "count", value: 1 }],
    });
  });
  let sum = 0;
  for (let c = 0; c < CLIENTS; c++) {
    const n = (await call("GET", `/api/v1/runs/${runIds[c]}/metadata`)).metadata.count as number;
    if (n !== perRun.perClient[c]) throw new Error(`lost increments on ${runIds[c]}: ${n} ≠ ${perRun.perClient[c]}`);
    sum += n;
  }

  const hot = (await trigger("bench-hot")).id as string;
  const contended = await loop(CLIENTS, async () => {
    await call("PUT", `/api/v1/runs/${hot}/metadata`, { operations: [{ type: "increment", key: "count", value: 1 }] });
  });
  const hotCount = (await call("GET", `/api/v1/runs/${hot}/metadata`)).metadata.count as number;
  if (hotCount !== contended.total) throw new Error(`lost increments on the hot run: ${hotCount} ≠ ${contended.total}`);

  const triggers = await loop(CLIENTS, async () => {
    await trigger("bench-trigger");
  });

  // Floor of the stack: a Remix resource route doing SELECT 1 + Redis PING, no auth, no writes.
  const floor = await loop(CLIENTS, async () => {
    await send("GET", "/healthz");
  });

  const rawAfter = await rawUpdates(databaseUrl, internal.slice(0, RAW_CLIENTS));
  const raw = (rawBefore + rawAfter) / 2;

  // ---- report
  const mode = production
    ? "production build (apps/webapp/build), child process"
    : "Vite dev mode (--dev), child process";
  const line = (label: string, r: { rate: number; cpuPerOp: number; clientCpuPerOp: number }) =>
    console.log(
      `${label.padEnd(44)} ${fmt(r.rate).padStart(7)} req/s | raw UPDATE ${fmt(raw).padStart(7)}/s | ratio ${(r.rate / raw).toFixed(2)} (goal ≥ 0.5) ${r.rate / raw >= 0.5 ? "PASS" : "FAIL"} | webapp CPU ${r.cpuPerOp.toFixed(1)} ms/req, bench client CPU ${r.clientCpuPerOp.toFixed(1)} ms/req`,
    );
  console.log(`\n== write API (${SECONDS} s per figure, ${CLIENTS} HTTP clients, webapp: ${mode})`);
  console.log(
    `raw single-row UPDATE, ${RAW_CLIENTS} pg clients:          before ${fmt(rawBefore)}/s, after ${fmt(rawAfter)}/s, mean ${fmt(raw)}/s`,
  );
  line(`metadata increment, own run per client`, perRun);
  line(`metadata increment, all clients on one run`, contended);
  line(`trigger`, triggers);
  line(`(floor: GET /healthz, Remix + SELECT 1, no auth)`, floor);
  console.log(`sequential latency (1 client, mean of 30): ${latencies.join(", ")}`);
  console.log(
    `checked: ${fmt(sum)} + ${fmt(hotCount)} increments read back exactly; ${fmt(triggers.total)} runs triggered`,
  );
  const figures = (r: { rate: number; cpuPerOp: number; clientCpuPerOp: number }) => ({
    requestsPerSecond: round(r.rate),
    ratio: round(r.rate / raw, 2),
    webappCpuMsPerRequest: round(r.cpuPerOp, 1),
    clientCpuMsPerRequest: round(r.clientCpuPerOp, 1),
  });
  const report = new BenchReport("write-api");
  report.add("setup", { seconds: SECONDS, clients: CLIENTS, webappMode: production ? "production" : "development" });
  report.add("rawUpdate", {
    beforePerSecond: round(rawBefore),
    afterPerSecond: round(rawAfter),
    meanPerSecond: round(raw),
  });
  report.add("metadataOwnRun", figures(perRun));
  report.add("metadataOneRun", figures(contended));
  report.add("trigger", figures(triggers));
  report.add("healthzFloor", figures(floor));
  report.add("sequentialLatencyMs", latencyMs);
  report.add("checked", { increments: sum + hotCount, runsTriggered: triggers.total });
  return report;
}

/** utime+stime of the webapp child in ms (Linux /proc; 0 elsewhere). */
function childCpuMs(): number {
  try {
    const fields = readFileSync(`/proc/${child!.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return 0;
  }
}

/** N workers calling `op` back to back for SECONDS; returns the completion rate and webapp CPU per op. */
async function loop(workers: number, op: (worker: number) => Promise<void>) {
  const cpuBefore = childCpuMs();
  const ownBefore = process.cpuUsage();
  const perClient = new Array<number>(workers).fill(0);
  const deadline = performance.now() + SECONDS * 1000;
  const started = performance.now();
  await Promise.all(
    perClient.map(async (_, w) => {
      while (performance.now() < deadline) {
        await op(w);
        perClient[w]!++;
      }
    }),
  );
  const total = perClient.reduce((a, b) => a + b, 0);
  const cpuPerOp = (childCpuMs() - cpuBefore) / total;
  const own = process.cpuUsage(ownBefore);
  const clientCpuPerOp = (own.user + own.system) / 1000 / total;
  return { total, perClient, cpuPerOp, clientCpuPerOp, rate: total / ((performance.now() - started) / 1000) };
}

/** RAW_CLIENTS connections, each updating its own row, one statement per round trip. */
async function rawUpdates(databaseUrl: string, ids: string[]): Promise<number> {
  const clients = await Promise.all(
    ids.map(async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      return c;
    }),
  );
  try {
    const sql = `UPDATE "TaskRun" SET "metadataVersion" = "metadataVersion" + 1, "updatedAt" = now() WHERE "id" = $1`;
    const counts = new Array<number>(clients.length).fill(0);
    const deadline = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      clients.map(async (c, i) => {
        while (performance.now() < deadline) {
          await c.query({ name: "raw-update", text: sql, values: [ids[i]] });
          counts[i]!++;
        }
      }),
    );
    return counts.reduce((a, b) => a + b, 0) / ((performance.now() - started) / 1000);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("webapp did not become healthy in time");
}

async function stopChild() {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child!.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child?.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

let report: BenchReport | undefined;
try {
  report = await main();
} catch (error) {
  console.error(error);
  process.exitCode = 1;
} finally {
  await stopChild();
  for (const stop of stops.reverse()) await stop().catch(() => {});
}
report?.print();
