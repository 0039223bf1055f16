/**
 * Realtime streams benchmark, loopback only, bounded in time (about 4 × --seconds plus start-up):
 *
 *   pnpm bench streams [--streams 1000] [--small-streams 100] [--rate 50] [--seconds 10] [--dev]
 *                      [--latency-only] [--cpu-prof] [--spread]
 *
 * Prints, against one Redis and one Postgres, in one run:
 *   1. latency: N streams × R chunks/s, each written by a v1 writer (one long chunked POST of NDJSON
 *      lines) and read by an SSE reader; append → reader latency p50/p99 (goal p99 ≤ 50 ms), beside
 *      raw Redis: the same load XADDed (auto-pipelined) and read by XREAD BLOCK loops over 200 keys
 *      (the hub's own read pattern), latency XADD → XREAD. The writers and the readers run in
 *      processes of their own (load.ts, driven by latency.ts), the same two for raw and for runfeed.
 *      Twice: at --streams (the goal's scale) and at --small-streams (below capacity). After each
 *      window every writer ends its body and its answer is counted, and every chunk Redis stored must
 *      reach its reader: scheduled, sent, stored, read late, lost (stored, never read), and CPU per
 *      chunk of the webapp, Redis, the writers and the readers; runfeed's latency is also split at the
 *      Redis entry's time (send → stored, stored → read). A third twin runs the same load through a
 *      bare node HTTP relay (relay.ts: writer → SSE reader with nothing in between): the floor of any
 *      server with one HTTP hop in and one out on this machine. The writers send phase-locked (every stream's
 *      line at the same instant of each period, the worst burst); --spread puts stream s of n at s/n
 *      of a period instead (the header says which);
 *   2. throughput: writers send as fast as the server takes them; chunks/s stored, beside raw
 *      pipelined XADD of the same lines into as many streams (goal ratio ≥ 0.5);
 *   3. archive: every run completes; chunks/s copied to Postgres until all streams are archived.
 * Ends with one JSON line {"bench":"streams","figures":{…}}. --cpu-prof profiles the webapp and
 * prints each latency window in the profiler's clock (µs), to cut the profile to it.
 *
 * The webapp runs as a child process from its production build, built first when stale (--dev: Vite
 * dev mode instead). Uses DATABASE_URL / REDIS_URL when set (a fresh database on that server), else embedded
 * Postgres and redis-server. The latency load runs in its own processes (plain sockets, no fetch); on a
 * shared 2-core machine they compete with the webapp, Redis and Postgres, which the figures include.
 */
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Redis, type Redis as RedisClient } from "ioredis";
import pg from "pg";
import {
  NDJSON_CONTENT_TYPE,
  STREAM_CLIENT_ID_HEADER,
  STREAM_RESUME_FROM_CHUNK_HEADER,
  generateRunFriendlyId,
} from "../../packages/core/src/index.js";
import { cpuSeconds, stopChild } from "../../packages/devstack/src/processes.js";
import { spawnWebapp, type WebappProcess } from "../../packages/devstack/src/webapp.js";
import { BenchReport, round } from "../report.js";
import { type Stop, numberArg, runBench, startBenchServices, until } from "../support.js";
import { latencyRow } from "./latency.js";
import { chunkLine } from "./load.js";

const STREAMS = numberArg("streams", 1_000, 5_000);
/** The second latency row: fewer streams, below this machine's capacity (0 = skip). */
const SMALL_STREAMS = process.argv.includes("--small-streams") ? numberArg("small-streams", 100, 5_000) : 100;
const RATE = numberArg("rate", 50, 1_000);
const SECONDS = numberArg("seconds", 10, 60);
const FORCE_DEV = process.argv.includes("--dev");
/** Writer s of n sends s/n of a period after writer 0, instead of every writer at the same instant. */
const PHASE_LOCKED = !process.argv.includes("--spread");
const PROFILE = process.argv.includes("--cpu-prof");
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const now = () => performance.timeOrigin + performance.now();

const stops: Stop[] = [];
let webapp: WebappProcess | undefined;

// ---------------------------------------------------------------------------------------------------

async function main(): Promise<BenchReport> {
  const { databaseUrl, redisUrl, project } = await startBenchServices("streams", stops);
  const environment = project.environments.find((e) => e.slug === "prod")!;
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  stops.push(() => db.end());

  const production = !FORCE_DEV;
  webapp = await spawnWebapp({
    databaseUrl,
    redisUrl,
    redisKeyPrefix: "bench:",
    env: { REALTIME_STREAM_IDLE_TIMEOUT_MS: "600000" },
    mode: production ? "production" : "development",
    nodeArgs: PROFILE ? ["--cpu-prof", "--cpu-prof-dir", join(tmpdir(), "runfeed-bench-prof")] : [],
    log: (line) => console.log(line),
  });
  stops.push(webapp.stop, async () => agent.destroy());
  const base = webapp.url;
  const auth = { authorization: `Bearer ${environment.apiKey}` };
  console.log(
    `webapp in ${production ? "production" : "Vite dev"} mode; ${STREAMS} streams × ${RATE} chunks/s for ${SECONDS} s, ${PHASE_LOCKED ? "phase-locked (every writer sends at the same instant of each period)" : "spread (writer s of n sends s/n of a period after writer 0)"}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );

  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  stops.push(async () => void redis.disconnect());
  const report = new BenchReport("streams");
  const relay = await startRelay();

  // ---- 1. latency, each row beside raw Redis at the same load: at the goal's scale, and below capacity
  const rows = [STREAMS, ...(SMALL_STREAMS < STREAMS ? [SMALL_STREAMS] : [])];
  const latencyRuns: Array<{ id: string; friendlyId: string }> = [];
  for (const [index, streams] of rows.entries()) {
    const config = {
      base,
      redisUrl,
      authorization: auth.authorization,
      rate: RATE,
      seconds: SECONDS,
      phaseLocked: PHASE_LOCKED,
    };
    const rawKeys = Array.from({ length: streams }, (_, i) => `bench:raw-latency:${i}`);
    const raw = await latencyRow({
      target: "raw",
      config: { ...config, targets: rawKeys },
      redis,
      stored: async () => (await Promise.all(rawKeys.map((key) => redis.xlen(key)))).reduce((a, b) => a + b, 0),
    });
    await redis.del(...rawKeys);
    const relayedBefore = await relay.relayed();
    const relayRow = await latencyRow({
      target: "http",
      config: { ...config, base: relay.url, targets: rawKeys },
      redis,
      webappCpu: relay.cpuSeconds,
      stored: async () => (await relay.relayed()) - relayedBefore,
    });
    const runs = await createRuns(db, environment.id, streams);
    latencyRuns.push(...runs);
    const ours = await latencyRow({
      target: "http",
      config: { ...config, targets: runs.map((run) => run.friendlyId) },
      redis,
      webappCpu: () => webapp!.cpuSeconds(),
      stored: async () => {
        const pipeline = redis.pipeline();
        for (const run of runs) pipeline.hget(`bench:stream-meta:{${run.id}:tokens}`, "chunks");
        return ((await pipeline.exec()) ?? []).reduce((sum, [, value]) => sum + Number(value ?? 0), 0);
      },
      onStarted: (message) => console.log(message),
    });
    const load = loadavg()[0]!.toFixed(1);
    console.log(
      `\n== append → reader latency (${streams} streams × ${RATE} chunks/s, ${SECONDS} s; load average ${load})`,
    );
    console.log(
      `raw XADD → XREAD BLOCK:   p50 ${raw.p50.toFixed(1)} ms  p99 ${raw.p99.toFixed(1)} ms  (${fmt(raw.count)} chunks within 2 s of the end)`,
    );
    console.log(
      `bare node HTTP relay:     p50 ${relayRow.p50.toFixed(1)} ms  p99 ${relayRow.p99.toFixed(1)} ms  (${fmt(relayRow.count)} chunks within 2 s of the end; the same writers and readers, nothing between them but one node HTTP server)`,
    );
    console.log(
      `runfeed writer → SSE:     p50 ${ours.p50.toFixed(1)} ms  p99 ${ours.p99.toFixed(1)} ms  (${fmt(ours.count)} chunks within 2 s of the end)  p99 ratio to raw ${(ours.p99 / raw.p99).toFixed(2)}  goal p99 ≤ 50 ms ${ours.p99 <= 50 ? "PASS" : "FAIL"}`,
    );
    if (ours.split)
      console.log(
        `  split at the Redis entry's time: send → stored p50 ${ours.split.toStored[0].toFixed(1)} ms  p99 ${ours.split.toStored[1].toFixed(1)} ms;  stored → read p50 ${ours.split.fromStored[0].toFixed(1)} ms  p99 ${ours.split.fromStored[1].toFixed(1)} ms`,
      );
    if (PROFILE) console.log(`(profile window ${ours.windowUs[0]} to ${ours.windowUs[1]} µs)`);
    for (const [name, row] of [
      ["raw", raw],
      ["relay", relayRow],
      ["runfeed", ours],
    ] as const) {
      const cpu = row.cpuUsPerChunk;
      console.log(
        `  ${name.padEnd(8)} ${fmt(row.sent)} of ${fmt(row.scheduled)} scheduled sent (${((100 * row.sent) / row.scheduled).toFixed(0)} %), ${fmt(row.stored)} stored, ${fmt(row.received)} read by the end (${fmt(row.lost)} stored but never read)${row.writerOutcomes.length ? `; writers: ${tally(row.writerOutcomes)}` : ""}`,
      );
      console.log(
        `           CPU µs per chunk in the window: ${cpu.webapp === undefined ? "" : `${name === "relay" ? "relay" : "webapp"} ${cpu.webapp.toFixed(1)}, `}redis ${cpu.redis.toFixed(1)}, writers ${cpu.writers.toFixed(1)}, readers ${cpu.readers.toFixed(1)}`,
      );
    }
    report.add(index === 0 ? "latency" : "latencyBelowCapacity", {
      streams,
      chunksPerSecondEach: RATE,
      p50Ms: round(ours.p50, 1),
      p99Ms: round(ours.p99, 1),
      rawP50Ms: round(raw.p50, 1),
      rawP99Ms: round(raw.p99, 1),
      relayP50Ms: round(relayRow.p50, 1),
      relayP99Ms: round(relayRow.p99, 1),
      relayCpuUsPerChunk: round(relayRow.cpuUsPerChunk.webapp ?? Number.NaN, 1),
      p99RatioToRaw: round(ours.p99 / raw.p99, 2),
      chunksScheduled: ours.scheduled,
      chunksSent: ours.sent,
      rawChunksSent: raw.sent,
      chunksLate: ours.sent - ours.count,
      chunksStored: ours.stored,
      chunksLost: ours.lost,
      writersFailed: ours.writerOutcomes.filter((o) => o !== "200").length,
      webappCpuUsPerChunk: round(ours.cpuUsPerChunk.webapp ?? Number.NaN, 1),
      redisCpuUsPerChunk: round(ours.cpuUsPerChunk.redis, 1),
      rawRedisCpuUsPerChunk: round(raw.cpuUsPerChunk.redis, 1),
      loadAverage1m: round(loadavg()[0]!, 1),
    });
  }

  if (process.argv.includes("--latency-only")) return report;
  // ---- 2. throughput
  const rawRate = await rawXaddRate(redis);
  const throughputRuns = await createRuns(db, environment.id, Math.min(STREAMS, 200));
  const accepted = await acceptedRate(base, auth, throughputRuns);
  const ratio = accepted / rawRate;
  console.log(`\n== chunks/s accepted (${throughputRuns.length} writers sending as fast as they are taken)`);
  console.log(`raw pipelined XADD:       ${fmt(rawRate)} chunks/s`);
  console.log(`runfeed v1 ingest:        ${fmt(accepted)} chunks/s`);
  console.log(`ratio:                    ${ratio.toFixed(2)} (goal ≥ 0.5) ${ratio >= 0.5 ? "PASS" : "FAIL"}`);
  report.add("accepted", {
    writers: throughputRuns.length,
    chunksPerSecond: round(accepted),
    rawXaddPerSecond: round(rawRate),
    ratio: round(ratio, 2),
  });

  // ---- 3. archive: every run finishes; the sweeper ends and archives its streams
  const archive = await archiveRate(db, [...latencyRuns, ...throughputRuns]);
  console.log(`\n== archive (${fmt(archive.streams)} streams, ${fmt(archive.chunks)} chunks)`);
  console.log(
    `archived to Postgres:     ${fmt(archive.chunksPerSecond)} chunks/s (${archive.mbPerSecond.toFixed(1)} MB/s), all in ${(archive.seconds).toFixed(1)} s after the runs finished`,
  );
  report.add("archive", {
    streams: archive.streams,
    chunks: archive.chunks,
    chunksPerSecond: round(archive.chunksPerSecond),
    mbPerSecond: round(archive.mbPerSecond, 1),
  });
  report.add("machine", { loadAverage1m: round(loadavg()[0]!, 1) });
  return report;
}

async function createRuns(db: pg.Pool, environmentId: string, count: number) {
  const runs = Array.from({ length: count }, () => ({
    id: randomBytes(12).toString("hex"),
    friendlyId: generateRunFriendlyId(),
  }));
  await db.query(
    `INSERT INTO "TaskRun" (id, "friendlyId", "taskIdentifier", "runtimeEnvironmentId", "projectId", payload, "updatedAt", status)
     SELECT id, fid, 'bench-stream', $3, (SELECT "projectId" FROM "RuntimeEnvironment" WHERE id = $3), '{}', now(), 'EXECUTING'
     FROM unnest($1::text[], $2::text[]) AS r(id, fid)`,
    [runs.map((r) => r.id), runs.map((r) => r.friendlyId), environmentId],
  );
  return runs;
}

// ---- raw Redis ----------------------------------------------------------------------------------

/** Pipelined XADD of the same lines into 200 keys, as fast as Redis takes them. */
async function rawXaddRate(redis: RedisClient): Promise<number> {
  const keys = Array.from({ length: 200 }, (_, i) => `bench:raw-rate:${i}`);
  const line = chunkLine(now(), 0).trimEnd();
  let done = 0;
  const end = Date.now() + Math.min(SECONDS, 5) * 1000;
  const started = now();
  while (Date.now() < end) {
    // Explicit pipelines (cheaper for the client than one promise per command).
    const pipeline = redis.pipeline();
    for (let k = 0; k < 10; k++) for (const key of keys) pipeline.xadd(key, "*", "d", line);
    await pipeline.exec();
    done += keys.length * 10;
  }
  const rate = done / ((now() - started) / 1000);
  await redis.del(...keys);
  return rate;
}

// ---- runfeed --------------------------------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });

interface Writer {
  req: http.ClientRequest;
  /** The response's status code, or the error that ended the request. */
  outcome: Promise<string>;
}

function openWriter(base: string, auth: Record<string, string>, runId: string, key: string): Writer {
  const req = http.request(`${base}/realtime/v1/streams/${runId}/self/${key}`, {
    method: "POST",
    agent,
    headers: {
      ...auth,
      "content-type": NDJSON_CONTENT_TYPE,
      [STREAM_CLIENT_ID_HEADER]: "bench",
      [STREAM_RESUME_FROM_CHUNK_HEADER]: "0",
    },
  });
  const outcome = new Promise<string>((resolve) => {
    req.on("error", (error) => resolve(error.message));
    req.on("response", (res) => {
      res.resume();
      resolve(String(res.statusCode));
    });
  });
  return { req, outcome };
}

/** "1000 × 200", or each outcome with its count. */
function tally(outcomes: string[]): string {
  const counts = new Map<string, number>();
  for (const outcome of outcomes) counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
  return [...counts].map(([outcome, n]) => `${n} × ${outcome}`).join(", ");
}

async function acceptedRate(base: string, auth: Record<string, string>, runs: Array<{ friendlyId: string }>) {
  const seconds = Math.min(SECONDS, 5);
  const batch = Array.from({ length: 100 }, (_, i) => chunkLine(now(), i)).join("");
  const stored = async () => {
    const metrics = await (await fetch(`${base}/metrics`)).text();
    return Number(/^runfeed_stream_chunks_written_total (\d+)/m.exec(metrics)?.[1] ?? 0);
  };
  const before = await stored();
  const started = now();
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    runs.map(async (run) => {
      const { req: writer, outcome } = openWriter(base, auth, run.friendlyId, "flood");
      while (Date.now() < end) {
        if (!writer.write(batch)) await new Promise((resolve) => writer.once("drain", resolve));
      }
      writer.end();
      await outcome;
    }),
  );
  // Count what was stored, after the last request bodies were read.
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  return ((await stored()) - before) / ((now() - started) / 1000);
}

async function archiveRate(db: pg.Pool, runs: Array<{ id: string }>) {
  const { rows } = await db.query<{ n: string; bytes: string }>(
    `SELECT count(*) AS n FROM "RealtimeStream" WHERE "runId" = ANY($1)`,
    [runs.map((r) => r.id)],
  );
  const streams = Number(rows[0]!.n);
  const started = now();
  await db.query(`UPDATE "TaskRun" SET status = 'COMPLETED_SUCCESSFULLY', "completedAt" = now() WHERE id = ANY($1)`, [
    runs.map((r) => r.id),
  ]);
  let done = { chunks: 0, bytes: 0 };
  await until(
    async () => {
      const result = await db.query<{ pending: string; chunks: string; bytes: string }>(
        `SELECT count(*) FILTER (WHERE "endedAt" IS NULL) AS pending, sum("chunkCount") AS chunks, sum("byteCount") AS bytes
       FROM "RealtimeStream" WHERE "runId" = ANY($1)`,
        [runs.map((r) => r.id)],
      );
      done = { chunks: Number(result.rows[0]!.chunks), bytes: Number(result.rows[0]!.bytes) };
      return Number(result.rows[0]!.pending) === 0;
    },
    300_000,
    100,
  );
  const seconds = (now() - started) / 1000;
  return {
    streams,
    chunks: done.chunks,
    seconds,
    chunksPerSecond: done.chunks / seconds,
    mbPerSecond: done.bytes / seconds / 1e6,
  };
}

/** The bare relay (relay.ts) in a child process: its URL, its CPU, and the lines it relayed so far (every row's). */
async function startRelay() {
  const child = fork(new URL("./relay.ts", import.meta.url).pathname, [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  stops.push(() => stopChild(child));
  const { port } = await new Promise<{ port: number }>((resolve) => child.once("message", resolve as never));
  return {
    url: `http://127.0.0.1:${port}`,
    cpuSeconds: () => cpuSeconds(child.pid),
    relayed: () =>
      new Promise<number>((resolve) => {
        child.once("message", (message: { relayed: number }) => resolve(message.relayed));
        child.send({});
      }),
  };
}

// ---------------------------------------------------------------------------------------------------

await runBench(main, stops);
