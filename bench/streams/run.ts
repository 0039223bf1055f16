/**
 * Realtime streams benchmark, loopback only, bounded in time (about 4 × --seconds plus start-up):
 *
 *   pnpm bench streams [--streams 1000] [--small-streams 100] [--rate 50] [--seconds 10] [--dev]
 *                      [--latency-only] [--cpu-prof]
 *
 * Prints, against one Redis and one Postgres, in one run:
 *   1. latency: N streams × R chunks/s, each written by a v1 writer (one long chunked POST of NDJSON
 *      lines) and read by an SSE reader; append → reader latency p50/p99 (goal p99 ≤ 50 ms), beside
 *      raw Redis: the same load XADDed by one pipelined client and read by XREAD BLOCK loops (the
 *      hub's own read pattern), latency XADD → XREAD. Twice: at --streams (the goal's scale, which
 *      saturates a 2-core machine) and at --small-streams (below capacity). After each window every
 *      writer ends its body and its answer is counted, and every chunk Redis stored must reach its
 *      reader: sent, stored, read late, lost (stored, never read), webapp CPU per chunk;
 *   2. throughput: writers send as fast as the server takes them; chunks/s stored, beside raw
 *      pipelined XADD of the same lines into as many streams (goal ratio ≥ 0.5);
 *   3. archive: every run completes; chunks/s copied to Postgres until all streams are archived.
 * Ends with one JSON line {"bench":"streams","figures":{…}}. --cpu-prof profiles the webapp and
 * prints each latency window in the profiler's clock (µs), to cut the profile to it.
 *
 * The webapp runs as a child process from its production build, built first when stale (--dev: Vite
 * dev mode instead). Uses DATABASE_URL / REDIS_URL when set (a fresh database on that server), else embedded
 * Postgres and redis-server. The load generator is this process (node:http, no fetch): on a shared
 * 2-core machine it competes with the webapp, Redis and Postgres, which the figures include.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import { loadavg, tmpdir } from "node:os";
import { createRequire } from "node:module";
import { join } from "node:path";
import type { Redis as RedisClient } from "ioredis";
import pg from "pg";
import {
  NDJSON_CONTENT_TYPE,
  STREAM_CLIENT_ID_HEADER,
  STREAM_RESUME_FROM_CHUNK_HEADER,
  generateRunFriendlyId,
} from "../../packages/core/src/index.js";
import { spawnWebapp, type WebappProcess } from "../../packages/devstack/src/webapp.js";
import { BenchReport, round } from "../report.js";
import { type Stop, numberArg, runBench, startBenchServices, until } from "../support.js";

// The bench folder has no dependencies of its own: ioredis is the webapp's.
const { Redis } = createRequire(new URL("../../apps/webapp/package.json", import.meta.url))(
  "ioredis",
) as typeof import("ioredis");
const STREAMS = numberArg("streams", 1_000, 5_000);
/** The second latency row: fewer streams, below this machine's capacity (0 = skip). */
const SMALL_STREAMS = process.argv.includes("--small-streams") ? numberArg("small-streams", 100, 5_000) : 100;
const RATE = numberArg("rate", 50, 1_000);
const SECONDS = numberArg("seconds", 10, 60);
const FORCE_DEV = process.argv.includes("--dev");
const PROFILE = process.argv.includes("--cpu-prof");
const TICK_MS = 20;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const now = () => performance.timeOrigin + performance.now();

const stops: Stop[] = [];
let webapp: WebappProcess | undefined;

function percentile(values: Float64Array, count: number, p: number): number {
  const sorted = values.slice(0, count).sort();
  return sorted[Math.min(count - 1, Math.floor(p * count))] ?? Number.NaN;
}

/** The chunk every writer sends: its send time, and padding to a token-like size (~60 bytes). */
const chunk = (t: number, i: number) => `{"t":${t},"i":${i},"token":"lorem "}\n`;

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
    `webapp in ${production ? "production" : "Vite dev"} mode; ${STREAMS} streams × ${RATE} chunks/s for ${SECONDS} s; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );

  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  stops.push(async () => void redis.disconnect());
  const report = new BenchReport("streams");

  // ---- 1. latency, each row beside raw Redis at the same load: at the goal's scale, and below capacity
  const rows = [STREAMS, ...(SMALL_STREAMS < STREAMS ? [SMALL_STREAMS] : [])];
  const latencyRuns: Array<{ id: string; friendlyId: string }> = [];
  for (const [index, streams] of rows.entries()) {
    const raw = await rawLatency(redis, streams);
    console.log(`\n== append → reader latency (${streams} streams × ${RATE} chunks/s, ${SECONDS} s)`);
    console.log(
      `raw XADD → XREAD BLOCK:   p50 ${raw.p50.toFixed(1)} ms  p99 ${raw.p99.toFixed(1)} ms  (${fmt(raw.count)} chunks; load average ${loadavg()[0]!.toFixed(1)})`,
    );
    const runs = await createRuns(db, environment.id, streams);
    latencyRuns.push(...runs);
    const ours = await streamLatency(base, auth, runs, redis);
    console.log(
      `runfeed writer → SSE:     p50 ${ours.p50.toFixed(1)} ms  p99 ${ours.p99.toFixed(1)} ms  (${fmt(ours.count)} of ${fmt(ours.sent)} chunks within 2 s of the end)  goal p99 ≤ 50 ms ${ours.p99 <= 50 ? "PASS" : "FAIL"}`,
    );
    console.log(
      `  delivery: ${fmt(ours.sent)} sent (${fmt(streams * RATE * SECONDS)} scheduled: below that, this load generator did not get the CPU to keep up), ${fmt(ours.stored)} stored, ${fmt(ours.readEventually)} read by the end (${fmt(ours.lost)} stored but never read); writers: ${ours.writerOutcomes}`,
    );
    console.log(
      `  CPU per chunk in the window (written + read): webapp ${ours.webappCpuUsPerChunk.toFixed(1)} µs, this load generator ${ours.clientCpuUsPerChunk.toFixed(1)} µs; load average ${loadavg()[0]!.toFixed(1)}`,
    );
    report.add(index === 0 ? "latency" : "latencyBelowCapacity", {
      streams,
      chunksPerSecondEach: RATE,
      p50Ms: round(ours.p50, 1),
      p99Ms: round(ours.p99, 1),
      rawP50Ms: round(raw.p50, 1),
      rawP99Ms: round(raw.p99, 1),
      chunksSent: ours.sent,
      chunksScheduled: streams * RATE * SECONDS,
      chunksLate: ours.sent - ours.count,
      chunksStored: ours.stored,
      chunksLost: ours.lost,
      writersFailed: ours.writersFailed,
      webappCpuUsPerChunk: round(ours.webappCpuUsPerChunk, 1),
      loadGeneratorCpuUsPerChunk: round(ours.clientCpuUsPerChunk, 1),
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

/** XADD from one pipelined client at the same load; XREAD BLOCK loops over 200 keys each. */
async function rawLatency(redis: RedisClient, streams: number) {
  const keys = Array.from({ length: streams }, (_, i) => `bench:raw-latency:${i}`);
  const latencies = new Float64Array(streams * RATE * (SECONDS + 2));
  let count = 0;
  let stop = false;
  const readers = [];
  for (let from = 0; from < keys.length; from += 200) {
    const group = keys.slice(from, from + 200);
    const reader = redis.duplicate({ enableAutoPipelining: false });
    const cursors = group.map(() => "0-0"); // the keys are new: from their start
    readers.push(
      (async () => {
        while (!stop) {
          const result = (await reader.xread("COUNT", 1000, "BLOCK", 500, "STREAMS", ...group, ...cursors)) as Array<
            [string, Array<[string, string[]]>]
          > | null;
          const at = now();
          for (const [key, entries] of result ?? []) {
            cursors[group.indexOf(key)] = entries[entries.length - 1]![0];
            for (const [, fields] of entries) {
              if (count < latencies.length) latencies[count++] = at - Number(JSON.parse(fields[1]!).t);
            }
          }
        }
        reader.disconnect();
      })(),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 300));
  const perTick = (RATE * TICK_MS) / 1000;
  const end = Date.now() + SECONDS * 1000;
  let carry = 0;
  while (Date.now() < end) {
    const t = now();
    carry += perTick;
    const n = Math.floor(carry);
    carry -= n;
    for (let k = 0; k < n; k++) for (const key of keys) void redis.xadd(key, "*", "d", chunk(t, 0).trimEnd());
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  stop = true;
  await Promise.all(readers);
  await redis.del(...keys);
  return { p50: percentile(latencies, count, 0.5), p99: percentile(latencies, count, 0.99), count };
}

/** Pipelined XADD of the same lines into 200 keys, as fast as Redis takes them. */
async function rawXaddRate(redis: RedisClient): Promise<number> {
  const keys = Array.from({ length: 200 }, (_, i) => `bench:raw-rate:${i}`);
  const line = chunk(now(), 0).trimEnd();
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

interface Reader {
  close(): void;
  ready: Promise<void>;
}

/** A raw SSE reader: parses `data:` lines and hands each chunk's send time to `onChunk`. */
function openReader(
  base: string,
  auth: Record<string, string>,
  runId: string,
  key: string,
  onChunk: (t: number) => void,
): Reader {
  let close = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    const req = http.get(`${base}/realtime/v1/streams/${runId}/${key}`, { agent, headers: auth }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`reader ${runId}: ${res.statusCode}`));
      resolve();
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (text: string) => {
        const at = now();
        buffer += text;
        let start = 0;
        for (let i = buffer.indexOf("data: ", start); i !== -1; i = buffer.indexOf("data: ", start)) {
          const eol = buffer.indexOf("\n", i);
          if (eol === -1) break;
          const t = Number(buffer.slice(i + 11, buffer.indexOf(",", i)));
          onChunk(at - t);
          start = eol + 1;
        }
        buffer = buffer.slice(start);
      });
      res.on("error", () => {});
    });
    req.on("error", reject);
    close = () => req.destroy();
  });
  return { close: () => close(), ready };
}

async function streamLatency(
  base: string,
  auth: Record<string, string>,
  runs: Array<{ id: string; friendlyId: string }>,
  redis: RedisClient,
) {
  const latencies = new Float64Array(runs.length * RATE * (SECONDS + 2));
  let count = 0;
  let measuring = false;
  let warm = 0;
  /** Every chunk any reader got, warm-up chunks and late ones included. */
  let received = 0;
  const readers: Reader[] = [];
  for (const run of runs) {
    let first = true;
    readers.push(
      openReader(base, auth, run.friendlyId, "tokens", (ms) => {
        received++;
        if (first) {
          first = false;
          warm++;
        }
        if (measuring && count < latencies.length) latencies[count++] = ms;
      }),
    );
  }
  await Promise.all(readers.map((r) => r.ready));
  // Every writer's request is set up (authenticated, stream listed) and its first chunk read before
  // the clock starts: the figure is the steady state, not the start-up of a thousand requests.
  const writers = runs.map((run) => openWriter(base, auth, run.friendlyId, "tokens"));
  for (const writer of writers) writer.req.write(chunk(now(), -1));
  const setupStarted = now();
  await until(async () => warm === runs.length, 300_000, 100).catch(() => {});
  console.log(
    `(${warm} of ${runs.length} writer → reader pairs set up in ${((now() - setupStarted) / 1000).toFixed(1)} s before the clock started)`,
  );
  const perTick = (RATE * TICK_MS) / 1000;
  let sent = 0;
  let carry = 0;
  let i = 0;
  const end = Date.now() + SECONDS * 1000;
  measuring = true;
  const windowStart = process.hrtime.bigint() / 1000n;
  const webappCpuBefore = webapp!.cpuSeconds();
  const clientCpuBefore = process.cpuUsage();
  while (Date.now() < end) {
    carry += perTick;
    const n = Math.floor(carry);
    carry -= n;
    const t = now();
    for (let k = 0; k < n; k++) {
      const line = chunk(t, i++);
      // No backpressure here on purpose: a writer that the server reads slowly queues in its socket.
      for (const writer of writers) writer.req.write(line);
      sent += writers.length;
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  // Let the last chunks arrive (the figure counts those that take longer as late).
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  measuring = false;
  const webappCpuUsPerChunk = ((webapp!.cpuSeconds() - webappCpuBefore) / sent) * 1e6;
  const clientCpu = process.cpuUsage(clientCpuBefore);
  const clientCpuUsPerChunk = (clientCpu.user + clientCpu.system) / sent;
  // The webapp's --cpu-prof timestamps are the same monotonic clock (µs): this is the measured window.
  if (PROFILE) console.log(`(profile window ${windowStart} to ${process.hrtime.bigint() / 1000n} µs)`);

  // Then: every writer ends its body and gets its answer (200 = every line stored); every stored chunk
  // must reach its reader, however late. Sent − stored is what the server never acknowledged.
  for (const writer of writers) writer.req.end();
  const outcomes = await Promise.all(
    writers.map((w) => Promise.race([w.outcome, new Promise<string>((r) => setTimeout(r, 120_000, "no answer"))])),
  );
  const pipeline = redis.pipeline();
  for (const run of runs) pipeline.hget(`bench:stream-meta:{${run.id}:tokens}`, "chunks");
  const stored = ((await pipeline.exec()) ?? []).reduce((sum, [, value]) => sum + Number(value ?? 0), 0);
  await until(async () => received >= stored, 120_000, 100).catch(() => {});
  for (const reader of readers) reader.close();
  const warmUps = runs.length;
  return {
    p50: percentile(latencies, count, 0.5),
    p99: percentile(latencies, count, 0.99),
    count,
    sent,
    stored: stored - warmUps,
    readEventually: received - warmUps,
    lost: Math.max(0, stored - received),
    writerOutcomes: tally(outcomes),
    writersFailed: outcomes.filter((o) => o !== "200").length,
    webappCpuUsPerChunk,
    clientCpuUsPerChunk,
  };
}

async function acceptedRate(base: string, auth: Record<string, string>, runs: Array<{ friendlyId: string }>) {
  const seconds = Math.min(SECONDS, 5);
  const batch = Array.from({ length: 100 }, (_, i) => chunk(now(), i)).join("");
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

// ---------------------------------------------------------------------------------------------------

await runBench(main, stops);
