/**
 * The write pipeline: metadata ops and log lines accepted and applied per second, beside raw batched UPDATE and COPY.
 * Loopback only, bounded in time (~8 × --seconds plus start-up):
 *
 *   pnpm bench write-pipeline [--seconds 3] [--clients 16]
 *
 * Prints, on one Postgres and one Redis (append-only file, appendfsync always), in one run:
 *   - metadata ops/s accepted over HTTP: N clients, each an @runfeed/sdk pipeline writer (flush by 100
 *     operations or 500 ms), increments on 100 runs, drain stopped (the buffer only fills);
 *   - metadata ops/s applied: the drain (its own process, server/drain.ts) empties that backlog; beside
 *     the raw batched UPDATE rows/s (one `UPDATE … FROM unnest` of 100 rows per statement, one client);
 *   - log lines/s accepted (writers flushing 1,000 lines) and applied, beside raw `COPY` rows/s into
 *     "TaskRunLog";
 *   - accept → visible lag at that load: with writers and the drain running, a probe sets a value through
 *     the pipeline every 100 ms and polls Postgres until it reads it (p50/p99). Visible means committed
 *     in Postgres; shape-sync's own commit → client latency is `pnpm bench shape-sync`'s figure;
 *   - critical trigger rate (N clients POST …/trigger) while the buffer is saturated by writers and the
 *     drain, against the same with the pipeline idle.
 * The webapp runs as a child process from its production build (built when stale). Uses DATABASE_URL /
 * REDIS_URL when set, else embedded Postgres and a redis-server in temp folders.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { pipeline as streamPipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";
import { stopChild } from "../../packages/devstack/src/processes.js";
import { spawnWebapp, webappArgs } from "../../packages/devstack/src/webapp.js";
import { pipeline } from "../../packages/sdk/src/index.js";
import { BenchReport, round } from "../report.js";
import { type Stop, keepAliveClient, numberArg, runBench, startBenchServices, until } from "../support.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
// The bench folder has no dependencies of its own: ioredis is the webapp's.
const { Redis } = createRequire(new URL("../../apps/webapp/package.json", import.meta.url))(
  "ioredis",
) as typeof import("ioredis");
const SECONDS = numberArg("seconds", 3, 30);
const CLIENTS = numberArg("clients", 16, 64);
const RUNS = 100;
const PREFIX = "bench:";
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const stops: Stop[] = [];

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

  const webapp = await spawnWebapp({
    databaseUrl,
    redisUrl,
    redisKeyPrefix: PREFIX,
    env: { ...pipelineSettings, WRITE_PIPELINE_DRAIN_ENABLED: "false" },
    log: (line) => console.log(line),
  });
  stops.push(async () => void (await webapp.stop()));
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
  };
  const stopDrain = () => stopChild(drain!);

  // node:http keep-alive for triggers (the load generator shares the machine; bench/support.ts).
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

  // ---- writers: SDK pipeline writers, each flushing and awaiting in a loop
  const write = async (kind: "metadata" | "logs", seconds: number, stop?: () => boolean) => {
    let units = 0;
    const deadline = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, c) => {
        const writer = pipeline.writer({
          baseURL,
          accessToken: key,
          maxItems: kind === "logs" ? 1000 : 100,
          maxAgeMs: 500,
        });
        let i = c;
        while (performance.now() < deadline && !stop?.()) {
          const batch = kind === "logs" ? 1000 : 100;
          for (let j = 0; j < batch; j++, i++) {
            if (kind === "metadata") writer.metadata(runs[i % RUNS]!).increment("n");
            else writer.log(runs[i % RUNS]!, { message: `line ${c}-${i}`, attributes: { i } });
          }
          await writer.flush();
          units += batch;
        }
      }),
    );
    return units;
  };

  // ---- raw limits
  const metadataRaw = await rawBatchedUpdate(db, internalIds, SECONDS);
  const logsRaw = await rawCopy(db, internalIds[0]!, project.environments.find((e) => e.slug === "prod")!.id, SECONDS);

  // ---- metadata: accept (drain stopped), then apply
  let t = performance.now();
  const metadataOps = await write("metadata", SECONDS);
  const metadataAccepted = metadataOps / ((performance.now() - t) / 1000);
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
  const lines = await write("logs", SECONDS);
  const logsAccepted = lines / ((performance.now() - t) / 1000);
  since = Date.now();
  startDrain();
  await until(async () => (await queued()) === 0, 300_000);
  const logsApplied = await appliedRate("low", since);
  const stored = Number(
    (await db.query<{ n: string }>(`SELECT count(*) AS n FROM "TaskRunLog" WHERE "id" LIKE '${PREFIX}%'`)).rows[0]!.n,
  );
  if (stored !== lines) throw new Error(`log lines stored ${stored} ≠ ${lines} accepted`);

  // ---- critical triggers: idle, then with the buffer saturated (writers + drain running)
  const triggersIdle = await triggerRate(trigger, SECONDS);
  let saturating = true;
  const load = Promise.all([write("metadata", 3600, () => !saturating), write("logs", 3600, () => !saturating)]);
  await new Promise((resolve) => setTimeout(resolve, 500)); // let the writers reach speed
  const lagMs = await probeLag(baseURL, key, runs[0]!, db, SECONDS);
  const triggersBusy = await triggerRate(trigger, SECONDS);
  saturating = false;
  await load;
  await until(async () => (await queued()) === 0, 300_000);
  await stopDrain();
  redis.disconnect();
  await db.end();

  const p = (q: number) =>
    lagMs.sort((a, b) => a - b)[Math.min(lagMs.length - 1, Math.floor(q * lagMs.length))] ?? Number.NaN;
  const figures = {
    metadataAccepted: round(metadataAccepted),
    metadataApplied: round(metadataApplied),
    metadataRaw: round(metadataRaw),
    logsAccepted: round(logsAccepted),
    logsApplied: round(logsApplied),
    logsRaw: round(logsRaw),
    lagP50Ms: round(p(0.5)),
    lagP99Ms: round(p(0.99)),
    triggersIdle: round(triggersIdle),
    triggersBusy: round(triggersBusy),
    criticalRatio: round(triggersBusy / triggersIdle, 2),
  };
  console.log(`
write pipeline — ${SECONDS} s per phase, ${CLIENTS} SDK writers, ${RUNS} runs, Redis appendfsync always, drain in its own process
  metadata ops accepted   ${fmt(metadataAccepted)} ops/s            (goal ≥ 50,000)
  metadata ops applied    ${fmt(metadataApplied)} ops/s  vs raw batched UPDATE ${fmt(metadataRaw)} rows/s = ${(metadataApplied / metadataRaw).toFixed(2)} (goal ≥ 0.5)
  log lines accepted      ${fmt(logsAccepted)} lines/s          (goal ≥ 100,000)
  log lines applied       ${fmt(logsApplied)} lines/s  vs raw COPY ${fmt(logsRaw)} rows/s = ${(logsApplied / logsRaw).toFixed(2)} (goal ≥ 0.5)
  accept → visible (Postgres) under load   p50 ${fmt(p(0.5))} ms, p99 ${fmt(p(0.99))} ms over ${lagMs.length} probes (goal p99 ≤ 1,000)
  critical triggers       ${fmt(triggersBusy)}/s with the buffer saturated vs ${fmt(triggersIdle)}/s idle = ${(triggersBusy / triggersIdle).toFixed(2)} (goal ≥ 0.8)
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

async function triggerRate(trigger: () => Promise<string>, seconds: number) {
  let n = 0;
  const deadline = performance.now() + seconds * 1000;
  const t = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < deadline) {
        await trigger();
        n++;
      }
    }),
  );
  return n / ((performance.now() - t) / 1000);
}

/** Every 100 ms (at least 20 times): set `probe` through the pipeline, then read Postgres until it shows (ms per probe). */
async function probeLag(baseURL: string, accessToken: string, run: string, db: pg.Client, seconds: number) {
  const writer = pipeline.writer({ baseURL, accessToken, maxItems: 1, maxAgeMs: 1 });
  const lags: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  // At least 20 probes: under saturation one probe can take longer than the phase.
  for (let i = 0; performance.now() < deadline || lags.length < 20; i++) {
    const started = performance.now();
    writer.metadata(run).set("probe", i);
    await writer.flush();
    for (;;) {
      const { rows } = await db.query<{ v: string | null }>(
        `SELECT metadata::jsonb->>'probe' AS v FROM "TaskRun" WHERE "friendlyId" = $1`,
        [run],
      );
      if (rows[0]?.v === String(i)) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    lags.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return lags;
}

await runBench(main, stops);
