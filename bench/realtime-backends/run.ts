/**
 * Realtime backends side by side: electric (shape server) vs native (Redis signals) at 100, 1,000 and 10,000 live subscribers.
 *
 * Two webapps (REALTIME_BACKEND=electric and =native, production build) on one database and one
 * Redis, apps/shape-sync behind the electric one; the clients run here, on loopback. Per backend and
 * size, two scenarios, each with live long-polls re-polled as the SDK does:
 *  1. single runs: N runs, one subscriber each; metadata writes (PUT …/metadata, the real write path)
 *     to runs picked in turn at BENCH_SINGLE_RATE per second;
 *  2. one hot tag: N subscribers of one tag feed over 20 tagged runs, written at BENCH_HOT_RATE per second.
 * Each write carries its send time in the metadata: commit → client latency is the time from sending
 * the write to a client holding it (p50/p99 over every delivery). Per update delivered: webapp CPU and
 * Postgres CPU (the server's processes, /proc), and Redis commands per write (INFO commandstats).
 *   pnpm bench realtime-backends   (BENCH_SIZES=100,1000,10000  BENCH_SCENARIOS=single,hot  BENCH_SECONDS=5
 *                                   BENCH_SINGLE_RATE=50  BENCH_HOT_RATE=20  BENCH_BACKENDS=electric,native)
 */
import { setMaxListeners } from "node:events";
import http from "node:http";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import getPort from "get-port";
import { Redis, type Redis as RedisClient } from "ioredis";
import pg from "pg";
import { createPrismaClient, migrate } from "../../packages/database/src/index.js";
import { createDatabase, postgresServer, withAdmin } from "../../packages/devstack/src/services.js";
import { startRedisServer } from "../../packages/devstack/src/redis.js";
import { shapeSyncEntry } from "../../packages/devstack/src/shape-sync.js";
import { WEBAPP_BUILD, ensureBuilt } from "../../packages/devstack/src/builds.js";
import { seedProject } from "../../apps/webapp/app/services/seed.server.js";
import {
  API_VERSION_HEADER,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_OFFSET_HEADER,
  TRIGGER_API_VERSION,
  generateRunFriendlyId,
} from "../../packages/core/src/index.js";
import { BenchReport, round } from "../report.js";
import { cpuMs, startChild, waitFor } from "../realtime/proxy.js";
import { type Stop, runBench } from "../support.js";

const SIZES = (process.env.BENCH_SIZES ?? "100,1000,10000").split(",").map(Number);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const SINGLE_RATE = Number(process.env.BENCH_SINGLE_RATE ?? 50);
const HOT_RATE = Number(process.env.BENCH_HOT_RATE ?? 20);
const SCENARIOS = new Set((process.env.BENCH_SCENARIOS ?? "single,hot").split(","));
const HOT_RUNS = 20;
const ALL_BACKENDS = ["electric", "native"] as const;
type Backend = (typeof ALL_BACKENDS)[number];
const BACKENDS = ALL_BACKENDS.filter((b) => (process.env.BENCH_BACKENDS ?? "electric,native").split(",").includes(b));

const stops: Stop[] = [];

const percentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Metadata writes sent again after their connection closed under them (putMetadata). */
let resentWrites = 0;
const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

/** GET on loopback without fetch's overhead: status, the headers we read, and the body. */
function get(url: string, headers: Record<string, string>, signal: AbortSignal) {
  return new Promise<{ status: number; handle?: string; offset?: string; body: string }>((resolve, reject) => {
    const req = http.get(url, { agent, headers, signal }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          handle: res.headers[ELECTRIC_HANDLE_HEADER] as string | undefined,
          offset: res.headers[ELECTRIC_OFFSET_HEADER] as string | undefined,
          body,
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

/**
 * CPU (ms) of a Postgres server: its postmaster with the children it already reaped (cutime, cstime)
 * and every child still running.
 */
function postgresCpuMs(postmaster: number): number {
  const own = readFileSync(`/proc/${postmaster}/stat`, "utf8").split(") ")[1]!.split(" ");
  let total = ((Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14])) * 1000) / 100;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ");
      if (Number(fields[1]) === postmaster) total += cpuMs(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return total;
}

async function redisCommands(redis: RedisClient): Promise<number> {
  const info = await redis.info("stats");
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

await runBench(async () => {
  const report = new BenchReport("realtime-backends");
  stops.push(async () => agent.destroy());
  const redisServer = process.env.REDIS_URL ? undefined : await startRedisServer();
  if (redisServer) stops.push(redisServer.stop);
  const redisUrl = process.env.REDIS_URL ?? redisServer!.url;
  const redis = new Redis(redisUrl);
  stops.push(async () => redis.disconnect());
  const postgres = await postgresServer(process.env.DATABASE_URL, "runfeed-bench");
  stops.push(postgres.stop);
  const dbName = `bench_backends_${process.pid}`;
  await withAdmin(postgres.url, (admin) => admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`));
  const database = await createDatabase(postgres.url, dbName);
  stops.push(database.drop);
  await migrate(database.url);
  const prisma = createPrismaClient(database.url, { max: 4 });
  stops.push(() => prisma.$disconnect());
  const probe = new pg.Client({ connectionString: database.url });
  await probe.connect();
  stops.push(() => probe.end());
  const backendPid = (await probe.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
  const postmaster = Number(readFileSync(`/proc/${backendPid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);
  const project = await seedProject(prisma, {
    orgSlug: "bench",
    orgTitle: "Bench",
    projectSlug: "bench",
    projectName: "Bench",
  });
  const environment = project.environments[2]!;
  const secret = (await prisma.runtimeEnvironment.findUniqueOrThrow({ where: { id: environment.id } })).apiKey;
  const headers = { authorization: `Bearer ${secret}`, [API_VERSION_HEADER]: TRIGGER_API_VERSION };

  // --- the shape server and the two webapps
  const storageDir = mkdtempSync(join(tmpdir(), "runfeed-bench-shapes-"));
  stops.push(async () => rmSync(storageDir, { recursive: true, force: true }));
  const shapePort = await getPort();
  const shapeSync = startChild("shape-sync", [shapeSyncEntry()], {
    DATABASE_URL: database.url,
    ELECTRIC_PORT: String(shapePort),
    ELECTRIC_INSECURE: "true",
    ELECTRIC_STORAGE_DIR: storageDir,
    ELECTRIC_REPLICATION_STREAM_ID: `backends${process.pid}`,
    ELECTRIC_MAX_CONCURRENT_REQUESTS: JSON.stringify({ initial: 300, existing: 30_000 }),
    LOG_LEVEL: "warn",
  });
  stops.push(shapeSync.stop);
  const shapeUrl = `http://127.0.0.1:${shapePort}`;
  await waitFor("shape-sync", async () => {
    const r = await fetch(`${shapeUrl}/v1/health`);
    return ((await r.json()) as { status: string }).status === "active" ? true : undefined;
  });
  await ensureBuilt(WEBAPP_BUILD, (line) => console.log(line));
  const webapps = {} as Record<Backend, { url: string; pid: number | undefined }>;
  for (const backend of BACKENDS) {
    const port = await getPort();
    const child = startChild(`webapp-${backend}`, ["--import", "tsx", "apps/webapp/server/index.ts"], {
      NODE_ENV: "production",
      HOST: "127.0.0.1",
      PORT: String(port),
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `bench:${backend}:${process.pid}:`,
      ELECTRIC_ORIGIN: shapeUrl,
      REALTIME_BACKEND: backend,
      LOG_LEVEL: "warn",
      WORKER_ENABLED: "false",
      WRITE_PIPELINE_DRAIN_ENABLED: "false",
    });
    stops.push(child.stop);
    const url = `http://127.0.0.1:${port}`;
    await waitFor(`webapp (${backend})`, async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined));
    webapps[backend] = { url, pid: child.process.pid };
  }

  /** One scenario: `feeds[i]` is subscriber i's feed path; `targets` the runs written to, in turn. */
  async function measure(backend: Backend, feeds: string[], targets: string[], rate: number) {
    const { url, pid } = webapps[backend];
    const stop = new AbortController();
    setMaxListeners(0, stop.signal); // one listener per request in flight
    const latencies: number[] = [];
    let delivered = 0;
    let live = 0;
    /** Subscribers whose initial requests failed (the connection refused or reset): never live, counted. */
    let setupFailed = 0;
    let setupError = "";
    const subscriber = async (path: string) => {
      const sep = path.includes("?") ? "&" : "?";
      let r: Awaited<ReturnType<typeof get>>;
      try {
        r = await get(`${url}${path}${sep}offset=-1`, headers, stop.signal);
        while (r.status === 200 && !r.body.includes('"up-to-date"'))
          r = await get(`${url}${path}${sep}offset=${r.offset}&handle=${r.handle}`, headers, stop.signal);
      } catch (error) {
        setupFailed++;
        setupError ||= (error as Error).message;
        return;
      }
      let { handle, offset } = r;
      live++;
      while (!stop.signal.aborted) {
        const reply = await get(
          `${url}${path}${sep}live=true&cursor=&handle=${handle}&offset=${offset}`,
          headers,
          stop.signal,
        );
        const now = performance.now();
        if (reply.status === 409) return; // not expected here: counted as a subscriber lost
        if (reply.status !== 200) {
          await sleep(100);
          continue;
        }
        ({ handle = handle, offset = offset } = reply);
        for (const m of JSON.parse(reply.body) as Array<{ key?: string; value?: { metadata?: string | null } }>) {
          const sent = m.value?.metadata ? (JSON.parse(m.value.metadata) as { t?: number }).t : undefined;
          if (m.key && sent !== undefined) {
            latencies.push(now - sent);
            delivered++;
          }
        }
      }
    };
    const loops: Promise<void>[] = [];
    const setupStarted = performance.now();
    const setupCpu = cpuMs(pid);
    const clientCpu = (process.cpuUsage().user + process.cpuUsage().system) / 1000;
    for (let i = 0; i < feeds.length; i += 100) {
      for (const path of feeds.slice(i, i + 100)) loops.push(subscriber(path).catch(() => {}));
      await waitFor(
        `${Math.min(i + 100, feeds.length)} subscribers`,
        async () => (live + setupFailed >= Math.min(i + 100, feeds.length) ? true : undefined),
        120_000,
      );
      if ((i + 100) % 1000 === 0)
        console.log(
          `  ${backend}: ${i + 100} live after ${Math.round(performance.now() - setupStarted)} ms, ` +
            `webapp ${Math.round(cpuMs(pid) - setupCpu)} ms CPU, this client ${Math.round((process.cpuUsage().user + process.cpuUsage().system) / 1000 - clientCpu)} ms CPU`,
        );
    }
    await sleep(500);
    const cpu0 = { web: cpuMs(pid), pg: postgresCpuMs(postmaster), shape: cpuMs(shapeSync.process.pid) };
    const redis0 = await redisCommands(redis);
    const writes = Math.round(rate * SECONDS);
    const started = performance.now();
    for (let n = 0; n < writes; n++) {
      const runId = targets[n % targets.length]!;
      const t = performance.now();
      const response = await putMetadata(`${url}/api/v1/runs/${runId}/metadata`, {
        method: "PUT",
        headers: { ...headers, "content-type": "application/json" },
        body: JSON.stringify({ metadata: { t, n } }),
      });
      if (!response.ok) throw new Error(`metadata write: ${response.status} ${await response.text()}`);
      const due = started + ((n + 1) * 1000) / rate - performance.now();
      if (due > 0) await sleep(due);
    }
    await sleep(2_000); // the last deliveries (native coalesces for up to REALTIME_NOTIFIER_RUNSET_CACHE_TTL_MS)
    const cpu1 = { web: cpuMs(pid), pg: postgresCpuMs(postmaster), shape: cpuMs(shapeSync.process.pid) };
    const redisOps = (await redisCommands(redis)) - redis0 - 1;
    stop.abort();
    await Promise.all(loops);
    latencies.sort((a, b) => a - b);
    const perDelivery = (ms: number) => (delivered ? (ms * 1000) / delivered : Number.NaN);
    if (setupFailed)
      console.log(`  ${backend}: ${setupFailed} subscribers never got live (first error: ${setupError})`);
    return {
      subscribers: feeds.length,
      subscribersFailed: setupFailed,
      writes,
      delivered,
      p50Ms: round(percentile(latencies, 50), 1),
      p99Ms: round(percentile(latencies, 99), 1),
      // The webapp's CPU includes serving the writes (PUT …/metadata), the same work for both backends.
      webappCpuUsPerDelivery: round(perDelivery(cpu1.web - cpu0.web), 1),
      postgresCpuUsPerDelivery: round(perDelivery(cpu1.pg - cpu0.pg), 1),
      shapeServerCpuUsPerDelivery: backend === "electric" ? round(perDelivery(cpu1.shape - cpu0.shape), 1) : 0,
      redisOpsPerWrite: round(redisOps / writes, 1),
    };
  }

  const createRuns = async (count: number, tags: string[] = []) => {
    const rows = Array.from({ length: count }, () => ({
      friendlyId: generateRunFriendlyId(),
      taskIdentifier: "bench",
      payload: "{}",
      runtimeEnvironmentId: environment.id,
      projectId: project.projectId,
      runTags: tags,
    }));
    await prisma.taskRun.createMany({ data: rows });
    return rows.map((r) => r.friendlyId);
  };

  console.log(`load average before: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  const hot = `hot-${process.pid}`;
  const hotRuns = await createRuns(HOT_RUNS, [hot]);
  for (const size of SIZES) {
    const runs = await createRuns(size);
    const section: Record<string, unknown> = {};
    for (const backend of BACKENDS) {
      const results: Array<[string, Awaited<ReturnType<typeof measure>>]> = [];
      if (SCENARIOS.has("single")) {
        const feeds = runs.map((id) => `/realtime/v1/runs/${id}`);
        results.push(["single runs", await measure(backend, feeds, runs.slice(0, 200), SINGLE_RATE)]);
      }
      if (SCENARIOS.has("hot")) {
        const feeds = Array.from({ length: size }, () => `/realtime/v1/runs?tags=${hot}`);
        results.push(["hot tag", await measure(backend, feeds, hotRuns, HOT_RATE)]);
      }
      section[backend] = Object.fromEntries(results.map(([name, r]) => [name === "hot tag" ? "hotTag" : "single", r]));
      for (const [name, r] of results)
        console.log(
          `${String(size).padStart(6)} ${backend.padEnd(8)} ${name.padEnd(11)} writes ${r.writes} delivered ${r.delivered}  ` +
            `p50 ${r.p50Ms} ms  p99 ${r.p99Ms} ms  webapp ${r.webappCpuUsPerDelivery} µs  pg ${r.postgresCpuUsPerDelivery} µs  ` +
            `shape ${r.shapeServerCpuUsPerDelivery} µs /delivery  redis ${r.redisOpsPerWrite} ops/write`,
        );
    }
    report.add(`n${size}`, section as never);
  }
  console.log(`load average after: ${readFileSync("/proc/loadavg", "utf8").trim()}`);
  report.figures.loadAverage = readFileSync("/proc/loadavg", "utf8").split(" ")[0]!;
  return report;
}, stops);

/**
 * A metadata PUT (idempotent: it sets the whole object), sent again when its connection was closed under it
 * (a keep-alive socket the webapp closed while 10,000 subscribers held it busy); each resend is counted.
 */
async function putMetadata(url: string, init: RequestInit): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (attempt >= 3) throw error;
      resentWrites++;
      console.log(`  metadata write resent after ${(error as Error).message} (${resentWrites} so far)`);
    }
  }
}
