/**
 * The write pipeline: metadata ops and log lines accepted and applied per second, beside raw batched UPDATE and COPY.
 * Loopback only, bounded in time (~8 × --seconds plus start-up):
 *
 *   pnpm bench write-pipeline [--seconds 3] [--clients 16]
 *
 * Prints, on one Postgres and one Redis (append-only file, appendfsync always), in one run:
 *   - metadata ops/s accepted over HTTP: N clients, each an @runfeed/sdk pipeline writer flushing full
 *     buffers of its default size (1,000 writes), increments on 100 runs, drain stopped (the buffer only
 *     fills); beside it the cores each process used (the writers run in this process);
 *   - metadata ops/s applied: the drain (its own process, server/drain.ts) empties that backlog; beside
 *     the raw batched UPDATE rows/s (one `UPDATE … FROM unnest` of 100 rows per statement, one client);
 *   - log lines/s accepted (the same writers, 1,000 lines a flush) and applied, beside raw `COPY` rows/s into
 *     "TaskRunLog";
 *   - accept → visible lag at that load: with writers (their own processes, load.ts) and the drain
 *     running, a probe sets a value through the pipeline every 100 ms and waits until a subscriber
 *     (@runfeed/sdk subscribeToRun, through the webapp's realtime route and shape-sync) sees it (p50/p99);
 *   - critical trigger rate (8 clients POST …/trigger, in this process) while the buffer is saturated —
 *     the same writers at full demand in their own processes, the drain working off their backlog —
 *     against the same with the pipeline idle, in alternating one-second slices (so that both see the
 *     same share of a shared machine); beside it, what the buffered classes were accepted at meanwhile
 *     (critical writes first: docs/decisions/092-write-pipeline.md) and the cores each process used.
 * The webapp runs as a child process from its production build (built when stale). Uses DATABASE_URL /
 * REDIS_URL when set, else embedded Postgres and a redis-server in temp folders.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { setPriority } from "node:os";
import { join } from "node:path";
import { pipeline as streamPipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { Redis } from "ioredis";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { stopChild } from "../../packages/devstack/src/processes.js";
import { spawnShapeSync } from "../../packages/devstack/src/shape-sync.js";
import { spawnWebapp, webappArgs } from "../../packages/devstack/src/webapp.js";
import { pipeline, runs as runsApi } from "../../packages/sdk/src/index.js";
import { BenchReport, round } from "../report.js";
import { type Stop, keepAliveClient, numberArg, runBench, startBenchServices, until } from "../support.js";
import { type LoadKind, writeLoad } from "./load.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const SECONDS = numberArg("seconds", 3, 30);
const CLIENTS = numberArg("clients", 16, 64);
const RUNS = 100;
/** The webapp's WRITE_PIPELINE_ADMISSION_MAX_WAIT_MS (its default): the longest a buffered request is held. */
const ADMISSION_MAX_WAIT_MS = 2_000;
/**
 * Triggers before each measured second, not counted: an instance stamps "critical writes flow" at its
 * next depth read and the drains see it at theirs (WRITE_PIPELINE_DEPTH_INTERVAL_MS, 250 ms, each).
 */
const WARMUP_MS = 750;
const PREFIX = "bench:";
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const stops: Stop[] = [];
/** Processes whose CPU time the trigger phases report, by name. */
const cpuOf = new Map<string, number>();

async function main() {
  const { databaseUrl, redisUrl, project } = await startBenchServices("pipeline", stops);
  const key = project.environments.find((e) => e.slug === "prod")!.apiKey;
  const pipelineSettings = {
    WRITE_PIPELINE_LOW_HIGH_WATER: "10000000",
    WRITE_PIPELINE_HIGH_SLOW_WATER: "10000000",
    WRITE_PIPELINE_HIGH_HIGH_WATER: "20000000",
  };
  const pipelineEnv = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: PREFIX,
    LOG_LEVEL: "warn",
    ...pipelineSettings,
  };

  // The subscriber's feed: shape-sync on the same Postgres, behind the webapp's realtime routes.
  const shapeSync = await spawnShapeSync({ databaseUrl });
  stops.push(shapeSync.stop);
  const webapp = await spawnWebapp({
    databaseUrl,
    redisUrl,
    redisKeyPrefix: PREFIX,
    env: { ...pipelineSettings, WRITE_PIPELINE_DRAIN_ENABLED: "false", ELECTRIC_ORIGIN: shapeSync.origin },
    log: (line) => console.log(line),
  });
  stops.push(async () => void (await webapp.stop()));
  cpuOf.set("webapp", webapp.child.pid!);
  cpuOf.set("shape-sync", shapeSync.child.pid!);
  cpuOf.set("bench (trigger client)", process.pid);
  const baseURL = webapp.url;
  let drain: ChildProcess | undefined;
  const startDrain = () => {
    drain = spawn(process.execPath, webappArgs("server/drain.ts"), {
      cwd: ROOT,
      env: { ...process.env, ...pipelineEnv, NODE_ENV: "production" },
      stdio: ["ignore", "ignore", "inherit"],
    });
    const started = drain;
    stops.push(() => stopChild(started));
    cpuOf.set("drain", drain.pid!);
  };
  const stopDrain = () => stopChild(drain!);

  // node:http keep-alive for triggers (bench/support.ts).
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
  const { send } = keepAliveClient(baseURL, headers, CLIENTS + 1);
  const post = (path: string, body: unknown) => send("POST", path, JSON.stringify(body));
  const trigger = async () => {
    const res = await post("/api/v1/tasks/bench-task/trigger", { payload: "{}" });
    if (res.status !== 200) throw new Error(`trigger → ${res.status} ${res.text}`);
    return JSON.parse(res.text).id as string;
  };
  const runs: string[] = [];
  for (let i = 0; i < RUNS; i++) runs.push(await trigger());
  const redis = new Redis(redisUrl);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const internalIds = (
    await db.query<{ id: string }>(`SELECT "id" FROM "TaskRun" WHERE "friendlyId" = ANY($1)`, [runs])
  ).rows.map((r) => r.id);
  const queued = async () => {
    const keys = (await redis.keys(`${PREFIX}wp:*`)).filter((k) => /^[^:]+:wp:(high|low):\d+$/.test(k));
    const lengths = await Promise.all(keys.map((k) => redis.xlen(k)));
    return lengths.reduce((a, b) => a + b, 0);
  };
  /**
   * Accepted between two times, from the pipeline's own per-second counters (the seconds they touch,
   * each weighted by the part of it inside the interval).
   */
  const acceptedCount = async (urgency: "high" | "low", fromMs: number, toMs: number) => {
    let accepted = 0;
    for (let second = Math.floor(fromMs / 1000); second * 1000 < toMs; second++) {
      const inside = Math.min(toMs, (second + 1) * 1000) - Math.max(fromMs, second * 1000);
      const n = Number((await redis.hget(`${PREFIX}wp:stats:${urgency}:${second}`, "accepted")) ?? 0);
      accepted += (n * inside) / 1000;
    }
    return accepted;
  };
  /** Applied per second over the seconds the drain applied anything, from the pipeline's own counters. */
  const appliedRate = async (urgency: "high" | "low", sinceMs: number) => {
    const keys = await redis.keys(`${PREFIX}wp:stats:${urgency}:*`);
    let applied = 0;
    let first = Number.POSITIVE_INFINITY;
    let last = 0;
    for (const k of keys) {
      const second = Number(k.split(":").at(-1));
      if (second * 1000 < sinceMs - 1000) continue;
      const n = Number((await redis.hget(k, "applied")) ?? 0);
      if (n === 0) continue;
      applied += n;
      first = Math.min(first, second);
      last = Math.max(last, second);
    }
    return applied / Math.max(1, last - first + 1);
  };

  // ---- writers: SDK pipeline writers, each flushing and awaiting in a loop (load.ts)
  const write = async (kind: LoadKind, seconds: number) => {
    const deadline = performance.now() + seconds * 1000;
    return writeLoad({
      kind,
      clients: CLIENTS,
      baseURL,
      accessToken: key,
      runs,
      stop: () => performance.now() >= deadline,
    });
  };
  /** The same writers in a process of their own, until stopped: the saturating load beside the trigger client. */
  const spawnLoad = (kind: LoadKind) => {
    const child = spawn(
      process.execPath,
      ["--import", "tsx", join(ROOT, "bench/write-pipeline/load.ts"), kind, String(CLIENTS)],
      {
        env: { ...process.env, BENCH_BASE_URL: baseURL, BENCH_API_KEY: key, BENCH_RUNS: runs.join(",") },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    stops.push(() => stopChild(child));
    // The writers stand for clients on other machines: on this shared one they take the CPU the
    // servers leave, rather than an equal share beside them (the trigger client is not niced either way).
    if (child.pid !== undefined) setPriority(child.pid, 19);
    cpuOf.set(`writers (${kind})`, child.pid!);
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => (out += chunk));
    const exited = new Promise<number>((resolve, reject) =>
      child.once("exit", (code) =>
        code === 0 ? resolve(JSON.parse(out).units as number) : reject(new Error(`load ${kind} exited ${code}`)),
      ),
    );
    return {
      signal: (signal: "SIGSTOP" | "SIGCONT") => child.kill(signal),
      stop: () => {
        child.kill("SIGCONT");
        child.kill("SIGTERM");
        return exited;
      },
    };
  };

  // ---- raw limits
  const metadataRaw = await rawBatchedUpdate(db, internalIds, SECONDS);
  const logsRaw = await rawCopy(db, internalIds[0]!, project.environments.find((e) => e.slug === "prod")!.id, SECONDS);

  // ---- metadata: accept (drain stopped), then apply
  let t = performance.now();
  let cpuBefore = cpuSeconds();
  const metadataOps = await write("metadata", SECONDS);
  const metadataAccepted = metadataOps / ((performance.now() - t) / 1000);
  const cpuMetadataAccept = coresSince(cpuBefore, t);
  let since = Date.now();
  startDrain();
  await until(async () => (await queued()) === 0, 300_000);
  const metadataApplied = await appliedRate("high", since);
  const sum = (await db.query<{ n: string }>(`SELECT sum((metadata::jsonb->>'n')::bigint) AS n FROM "TaskRun"`))
    .rows[0]!.n;
  if (Number(sum) !== metadataOps) throw new Error(`metadata sum ${sum} ≠ ${metadataOps} accepted`);
  await stopDrain();

  // ---- logs: accept, then apply
  t = performance.now();
  cpuBefore = cpuSeconds();
  const lines = await write("logs", SECONDS);
  const logsAccepted = lines / ((performance.now() - t) / 1000);
  const cpuLogsAccept = coresSince(cpuBefore, t);
  since = Date.now();
  startDrain();
  await until(async () => (await queued()) === 0, 300_000);
  const logsApplied = await appliedRate("low", since);
  const stored = Number(
    (await db.query<{ n: string }>(`SELECT count(*) AS n FROM "TaskRunLog" WHERE "id" LIKE '${PREFIX}%'`)).rows[0]!.n,
  );
  if (stored !== lines) throw new Error(`log lines stored ${stored} ≠ ${lines} accepted`);

  // ---- accept → visible, then critical triggers: the writers in their own processes, at full demand
  const loads = [spawnLoad("metadata"), spawnLoad("logs")];
  // The writers' processes are up and their writes queue faster than the drain empties them.
  await until(async () => (await queued()) > 2 * CLIENTS, 60_000);
  const { lagMs, answeredMs } = await probeLag(baseURL, key, runs[0]!, SECONDS);
  // Idle and saturated seconds alternate (the writers stopped with SIGSTOP, continued with SIGCONT), so
  // that both see the same share of this shared machine; each idle second starts once every buffered
  // request has been answered (ADMISSION_MAX_WAIT_MS) and the drain has emptied the streams.
  const idle = new TriggerTally();
  const busy = new TriggerTally();
  const cpuIdle = new Map<string, number>();
  const cpuBusy = new Map<string, number>();
  const depths: number[] = [];
  let busyMs = 0;
  const busyAccepted = { high: 0, low: 0 };
  /** One counted second of triggers after the warm-up; the cores used over that second; its span (epoch ms). */
  const measure = async (tally: TriggerTally, cpuSum: Map<string, number>) => {
    let cpu = cpuSeconds();
    let from = Date.now();
    const counted = setTimeout(() => {
      cpu = cpuSeconds();
      from = Date.now();
    }, WARMUP_MS);
    await tally.run(trigger, 1);
    clearTimeout(counted);
    addCpu(cpuSum, cpu, cpuSeconds());
    return { from, to: Date.now() };
  };
  for (let round = 0; round < SECONDS; round++) {
    for (const l of loads) l.signal("SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, ADMISSION_MAX_WAIT_MS + 500));
    await until(async () => (await queued()) === 0, 300_000);
    await measure(idle, cpuIdle);
    for (const l of loads) l.signal("SIGCONT");
    await until(async () => (await queued()) > 2 * CLIENTS, 60_000);
    depths.push(await queued());
    const { from, to } = await measure(busy, cpuBusy);
    depths.push(await queued());
    busyMs += to - from;
    busyAccepted.high += await acceptedCount("high", from, to);
    busyAccepted.low += await acceptedCount("low", from, to);
  }
  await Promise.all(loads.map((l) => l.stop()));
  await until(async () => (await queued()) === 0, 300_000);
  await stopDrain();
  redis.disconnect();
  await db.end();

  const quantile = (values: number[], q: number) =>
    [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))] ?? Number.NaN;
  const p = (q: number) => quantile(lagMs, q);
  // From the 202 on: the drain, the commit and the feed, without the probe's own wait to be accepted.
  const afterAcceptMs = lagMs.map((lag, i) => lag - answeredMs[i]!);
  const figures = {
    metadataAccepted: round(metadataAccepted),
    metadataApplied: round(metadataApplied),
    metadataRaw: round(metadataRaw),
    logsAccepted: round(logsAccepted),
    logsApplied: round(logsApplied),
    logsRaw: round(logsRaw),
    lagP50Ms: round(p(0.5)),
    lagP99Ms: round(p(0.99)),
    afterAcceptP99Ms: round(quantile(afterAcceptMs, 0.99)),
    triggersIdle: round(idle.rate),
    triggersBusy: round(busy.rate),
    criticalRatio: round(busy.rate / idle.rate, 2),
    busyMetadataAccepted: round(busyAccepted.high / (busyMs / 1000)),
    busyLogsAccepted: round(busyAccepted.low / (busyMs / 1000)),
  };
  console.log(`
write pipeline — ${SECONDS} s per phase, ${CLIENTS} SDK writers, ${RUNS} runs, Redis appendfsync always, drain in its own process
  metadata ops accepted   ${fmt(metadataAccepted)} ops/s            (goal ≥ 50,000)
                          cores used: ${cpuMetadataAccept} (writers in the bench process)
  metadata ops applied    ${fmt(metadataApplied)} ops/s  vs raw batched UPDATE ${fmt(metadataRaw)} rows/s = ${(metadataApplied / metadataRaw).toFixed(2)} (goal ≥ 0.5)
  log lines accepted      ${fmt(logsAccepted)} lines/s          (goal ≥ 100,000)
                          cores used: ${cpuLogsAccept} (writers in the bench process)
  log lines applied       ${fmt(logsApplied)} lines/s  vs raw COPY ${fmt(logsRaw)} rows/s = ${(logsApplied / logsRaw).toFixed(2)} (goal ≥ 0.5)
  accept → visible (subscriber) under load   p50 ${fmt(p(0.5))} ms, p99 ${fmt(p(0.99))} ms over ${lagMs.length} probes (goal p99 ≤ 1,000)
                          of which the probe's request until answered 202: p50 ${fmt(quantile(answeredMs, 0.5))} ms, p99 ${fmt(quantile(answeredMs, 0.99))} ms
                          from the 202 to the subscriber: p50 ${fmt(quantile(afterAcceptMs, 0.5))} ms, p99 ${fmt(quantile(afterAcceptMs, 0.99))} ms
  critical triggers       ${fmt(busy.rate)}/s with the buffer saturated vs ${fmt(idle.rate)}/s idle = ${(busy.rate / idle.rate).toFixed(2)} (goal ≥ 0.8)
                          ${SECONDS} idle and ${SECONDS} saturated seconds, alternating; trigger latency p50/p99 ${fmt(busy.quantile(0.5))}/${fmt(busy.quantile(0.99))} ms saturated, ${fmt(idle.quantile(0.5))}/${fmt(idle.quantile(0.99))} ms idle
                          saturated: backlog ${depths.map(fmt).join(" → ")} entries; buffered writes accepted ${fmt(busyAccepted.high / (busyMs / 1000))} metadata ops/s, ${fmt(busyAccepted.low / (busyMs / 1000))} log lines/s
                          cores used idle:      ${cpuText(cpuIdle, idle.ms)}
                          cores used saturated: ${cpuText(cpuBusy, busy.ms)}
  sums checked: ${fmt(metadataOps)} increments, ${fmt(lines)} log lines stored once
`);
  const report = new BenchReport("write-pipeline");
  for (const [name, value] of Object.entries(figures)) report.figures[name] = value;
  return report;
}

/** `UPDATE … FROM unnest` of every run per statement, one client: rows/s. */
async function rawBatchedUpdate(db: pg.Client, ids: string[], seconds: number) {
  let rows = 0;
  const deadline = performance.now() + seconds * 1000;
  const t = performance.now();
  for (let v = 0; performance.now() < deadline; v++) {
    const data = ids.map(() => JSON.stringify({ raw: v }));
    const res = await db.query(
      `UPDATE "TaskRun" t SET "metadata" = v.data, "metadataVersion" = t."metadataVersion" + 1 FROM unnest($1::text[], $2::text[]) AS v(id, data) WHERE t."id" = v.id`,
      [ids, data],
    );
    rows += res.rowCount ?? 0;
  }
  await db.query(`UPDATE "TaskRun" SET "metadata" = NULL`);
  return rows / ((performance.now() - t) / 1000);
}

/** `COPY "TaskRunLog" FROM STDIN` of 10,000-row chunks, one client: rows/s. */
async function rawCopy(db: pg.Client, runId: string, environmentId: string, seconds: number) {
  let rows = 0;
  const deadline = performance.now() + seconds * 1000;
  const t = performance.now();
  for (let chunk = 0; performance.now() < deadline; chunk++) {
    const now = new Date().toISOString();
    const lines = Array.from(
      { length: 10_000 },
      (_, i) => `raw-${chunk}-${i}\t${runId}\t${environmentId}\tlog\tinfo\tline ${i}\t{"i": ${i}}\t${now}\t${i}\n`,
    );
    const copy = db.query(
      copyFrom(
        `COPY "TaskRunLog" ("id","runId","runtimeEnvironmentId","kind","level","message","attributes","time","seq") FROM STDIN`,
      ),
    );
    await streamPipeline(Readable.from(lines), copy);
    rows += lines.length;
  }
  await db.query(`DELETE FROM "TaskRunLog" WHERE "id" LIKE 'raw-%'`);
  return rows / ((performance.now() - t) / 1000);
}

/** Triggers from 8 clients in a loop, over any number of runs: rate, latencies' p50/p99 (ms). */
class TriggerTally {
  latencies: number[] = [];
  ms = 0;

  /** Triggers for `warmupMs` uncounted (the pipeline's signals settle: drains see critical writes), then `seconds` counted. */
  async run(trigger: () => Promise<string>, seconds: number, warmupMs = WARMUP_MS) {
    const from = performance.now() + warmupMs;
    const deadline = from + seconds * 1000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (performance.now() < deadline) {
          const started = performance.now();
          await trigger();
          if (started >= from) this.latencies.push(performance.now() - started);
        }
      }),
    );
    this.ms += performance.now() - from;
  }

  get rate() {
    return this.latencies.length / (this.ms / 1000);
  }

  quantile(q: number) {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  }
}

/**
 * Every 100 ms (at least 20 times): set `probe` through the pipeline, then wait until a real
 * subscriber (@runfeed/sdk's subscribeToRun: the webapp's realtime feed on shape-sync) sees it (ms per
 * probe, from the flush's start; and until the flush was answered, the accept path's part of it).
 */
async function probeLag(baseURL: string, accessToken: string, run: string, seconds: number) {
  const writer = pipeline.writer({ baseURL, accessToken, maxItems: 1, maxAgeMs: 1 });
  const abort = new AbortController();
  let seen = -1;
  let wake = () => {};
  const subscription = (async () => {
    for await (const update of runsApi.subscribeToRun(run, { baseURL, accessToken, signal: abort.signal })) {
      const probe = (update.metadata as { probe?: number } | undefined)?.probe;
      if (typeof probe === "number" && probe > seen) {
        seen = probe;
        wake();
      }
    }
  })().catch((error: unknown) => {
    if (!abort.signal.aborted) throw error;
  });
  const lags: number[] = [];
  const answered: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  // At least 20 probes: under saturation one probe can take longer than the phase.
  for (let i = 0; performance.now() < deadline || lags.length < 20; i++) {
    const started = performance.now();
    writer.metadata(run).set("probe", i);
    await writer.flush();
    answered.push(performance.now() - started);
    while (seen < i) await new Promise<void>((resolve) => (wake = resolve));
    lags.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  abort.abort();
  await subscription;
  return { lagMs: lags, answeredMs: answered };
}

/** CPU seconds of each named process and of the whole machine (all processes, everyone's), now. */
function cpuSeconds(): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, pid] of cpuOf) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      out.set(name, (Number(fields[11]) + Number(fields[12])) / 100); // utime + stime, in clock ticks
    } catch {
      out.set(name, 0); // exited
    }
  }
  // Everything else this bench started (Postgres's backends, redis-server, esbuild…): its whole process
  // tree less the processes named above.
  const stats = new Map<number, { ppid: number; cpu: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = readFileSync(`/proc/${entry}/stat`, "utf8").split(") ")[1]!.split(" ");
      stats.set(Number(entry), { ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / 100 });
    } catch {
      // exited meanwhile
    }
  }
  const named = new Set(cpuOf.values());
  for (const [pid, stat] of stats) {
    if (named.has(pid)) continue;
    let ancestor = stat.ppid;
    while (ancestor > 1 && ancestor !== process.pid) ancestor = stats.get(ancestor)?.ppid ?? 0;
    if (ancestor === process.pid) out.set(`pid ${pid}`, stat.cpu);
  }
  const cpu = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  out.set("machine", (cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]!) / 100); // user nice system irq softirq
  return out;
}

/**
 * Adds each process's CPU seconds between two readings to a running sum; the unnamed ones (`pid …`:
 * Postgres's backends, redis-server) together, counted only while alive in both readings.
 */
function addCpu(sum: Map<string, number>, before: Map<string, number>, after: Map<string, number>) {
  const REST = "postgres+redis+rest of the bench's processes";
  for (const [name, s] of after) {
    const key = name.startsWith("pid ") ? REST : name;
    sum.set(key, (sum.get(key) ?? 0) + s - (before.get(name) ?? s));
  }
}

/** Cores each process used since `before` (read at `fromMs`, performance.now()), as cpuText gives them. */
function coresSince(before: Map<string, number>, fromMs: number): string {
  const sum = new Map<string, number>();
  addCpu(sum, before, cpuSeconds());
  return cpuText(sum, performance.now() - fromMs);
}

/** Cores used per process over `ms`: "webapp 0.95, drain 0.20, …". */
function cpuText(sum: Map<string, number>, ms: number): string {
  return [...sum].map(([name, s]) => `${name} ${(s / (ms / 1000)).toFixed(2)}`).join(", ");
}

await runBench(main, stops);
