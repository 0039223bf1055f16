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
 * each beside the raw UPDATE rate as a ratio (goal ≥ 0.5). And, for the critical trigger path (ADR 091):
 *   - raw single-row INSERT rate: 8 pg clients, each inserting one TaskRun row per statement with the
 *     trigger's own prepared INSERT (runInsert.server.ts), before and after — the trigger figure beside it
 *     (goal ≥ 0.25);
 *   - raw multi-row INSERT rows/s: one pg client, 1,000 TaskRun rows per statement (the batch's own
 *     INSERT), before and after — beside it, rows/s of 1,000-item batch triggers through HTTP (phase 1
 *     create + phase 2 NDJSON items; one client, like the raw figure) (goal ≥ 0.5).
 *
 * The webapp runs as a child process (its own event loop/core, like production) from its production
 * build, built first when stale as `pnpm start` does (--dev: Vite dev mode instead). Uses DATABASE_URL /
 * REDIS_URL when set (a fresh database is created on that server and dropped afterwards), else starts
 * embedded Postgres (wal_level=logical) in a temp folder and redis-server.
 */
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { spawnWebapp, type WebappProcess } from "../../packages/devstack/src/webapp.js";
import { BenchReport, round } from "../report.js";
import { type Stop, keepAliveClient, numberArg, runBench, startBenchServices } from "../support.js";
import {
  INSERT_MANY_SQL,
  INSERT_ONE_SQL,
  insertManyParams,
  insertOneParams,
  type NewRun,
} from "../../apps/webapp/app/services/runInsert.server.js";
import { generateRunFriendlyId, generateRunId } from "../../packages/core/src/index.js";

const SECONDS = numberArg("seconds", 5, 30);
const CLIENTS = numberArg("clients", 8, 64);
const RAW_CLIENTS = 8;
const BATCH_SIZE = 1000;
const FORCE_DEV = process.argv.includes("--dev");
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

const stops: Stop[] = [];
let webapp: WebappProcess | undefined;

async function main() {
  // ---- services
  const { databaseUrl, redisUrl, project } = await startBenchServices("write", stops);
  const key = project.environments.find((e) => e.slug === "prod")!.apiKey;

  // ---- webapp (child process)
  const production = !FORCE_DEV;
  webapp = await spawnWebapp({
    databaseUrl,
    redisUrl,
    redisKeyPrefix: "bench:",
    mode: production ? "production" : "development",
    nodeArgs: process.argv.includes("--cpu-prof")
      ? ["--cpu-prof", "--cpu-prof-dir", join(tmpdir(), "runfeed-bench-prof")]
      : [],
    log: (line) => console.log(line),
  });
  stops.push(webapp.stop);
  const base = webapp.url;
  const headers = { authorization: `Bearer ${key}`, "content-type": "application/json", "trigger-version": "4.8.3" };
  const { send } = keepAliveClient(base, headers, CLIENTS + 1);
  const sendRaw = (method: string, path: string, body: string, contentType: string) =>
    send(method, path, body, { "content-type": contentType });
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

  // ---- the critical trigger path against raw INSERTs of the same rows
  const environmentId = project.environments.find((e) => e.slug === "prod")!.id;
  const insertBefore = await rawInserts(databaseUrl, environmentId, project.projectId);
  const triggersAgain = await loop(CLIENTS, async () => {
    await trigger("bench-trigger");
  });
  const insertAfter = await rawInserts(databaseUrl, environmentId, project.projectId);
  const rawInsert = (insertBefore + insertAfter) / 2;
  const multiBefore = await rawMultiInserts(databaseUrl, environmentId, project.projectId);
  const batchItems = Array.from({ length: BATCH_SIZE }, (_, i) =>
    JSON.stringify({ index: i, task: "bench-batch", payload: `{"i":${i}}`, options: { tags: ["bench"] } }),
  ).join("\n");
  const batches = await loop(1, async () => {
    const created = await call("POST", "/api/v3/batches", { runCount: BATCH_SIZE });
    const res = await sendRaw("POST", `/api/v3/batches/${created.id}/items`, `${batchItems}\n`, "application/x-ndjson");
    if (res.status !== 200 || !JSON.parse(res.text).sealed) throw new Error(`batch items → ${res.status} ${res.text}`);
  });
  const multiAfter = await rawMultiInserts(databaseUrl, environmentId, project.projectId);
  const rawMulti = (multiBefore + multiAfter) / 2;
  const batchRows = batches.rate * BATCH_SIZE;

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
  console.log(
    `raw single-row INSERT, ${RAW_CLIENTS} pg clients:          before ${fmt(insertBefore)}/s, after ${fmt(insertAfter)}/s, mean ${fmt(rawInsert)}/s`,
  );
  console.log(
    `${"trigger (measured between the INSERT figures)".padEnd(44)} ${fmt(triggersAgain.rate).padStart(7)} req/s | raw INSERT ${fmt(rawInsert).padStart(7)}/s | ratio ${(triggersAgain.rate / rawInsert).toFixed(2)} (goal ≥ 0.25) ${triggersAgain.rate / rawInsert >= 0.25 ? "PASS" : "FAIL"} | webapp CPU ${triggersAgain.cpuPerOp.toFixed(1)} ms/req`,
  );
  console.log(
    `raw multi-row INSERT (${fmt(BATCH_SIZE)} rows/statement, 1 client): before ${fmt(multiBefore)} rows/s, after ${fmt(multiAfter)} rows/s, mean ${fmt(rawMulti)} rows/s`,
  );
  console.log(
    `${`batch trigger, ${fmt(BATCH_SIZE)} items (1 client)`.padEnd(44)} ${fmt(batchRows).padStart(7)} rows/s | raw multi-row INSERT ${fmt(rawMulti)} rows/s | ratio ${(batchRows / rawMulti).toFixed(2)} (goal ≥ 0.5) ${batchRows / rawMulti >= 0.5 ? "PASS" : "FAIL"} | ${fmt(batches.total)} batches, webapp CPU ${batches.cpuPerOp.toFixed(0)} ms/batch`,
  );
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
  report.add("rawInsert", {
    beforePerSecond: round(insertBefore),
    afterPerSecond: round(insertAfter),
    meanPerSecond: round(rawInsert),
  });
  report.add("triggerVsInsert", {
    requestsPerSecond: round(triggersAgain.rate),
    ratio: round(triggersAgain.rate / rawInsert, 2),
    webappCpuMsPerRequest: round(triggersAgain.cpuPerOp, 1),
  });
  report.add("rawMultiInsert", {
    rowsPerStatement: BATCH_SIZE,
    beforeRowsPerSecond: round(multiBefore),
    afterRowsPerSecond: round(multiAfter),
    meanRowsPerSecond: round(rawMulti),
  });
  report.add("batchTrigger", {
    items: BATCH_SIZE,
    batches: batches.total,
    rowsPerSecond: round(batchRows),
    ratio: round(batchRows / rawMulti, 2),
    webappCpuMsPerBatch: round(batches.cpuPerOp, 0),
  });
  report.add("sequentialLatencyMs", latencyMs);
  report.add("checked", { increments: sum + hotCount, runsTriggered: triggers.total });
  return report;
}

/** N workers calling `op` back to back for SECONDS; returns the completion rate and webapp CPU per op. */
async function loop(workers: number, op: (worker: number) => Promise<void>) {
  const cpuBefore = webapp!.cpuSeconds() * 1000;
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
  const cpuPerOp = (webapp!.cpuSeconds() * 1000 - cpuBefore) / total;
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

/** A TaskRun row as a trigger writes it (what the raw INSERT figures insert). */
function benchRun(environmentId: string, projectId: string, i: number): NewRun {
  const now = new Date();
  return {
    id: generateRunId(),
    friendlyId: generateRunFriendlyId(),
    taskIdentifier: "bench-raw",
    runtimeEnvironmentId: environmentId,
    projectId,
    status: "PENDING",
    createdAt: now,
    updatedAt: now,
    queuedAt: now,
    delayUntil: null,
    ttl: null,
    ttlExpiresAt: null,
    maxDurationInSeconds: null,
    debounceKey: null,
    debounceUntil: null,
    isTest: false,
    payload: `{"i":${i}}`,
    payloadType: "application/json",
    metadata: null,
    metadataType: "application/json",
    runTags: ["bench"],
    idempotencyKey: null,
    idempotencyKeyExpiresAt: null,
    oneTimeUseToken: null,
    batchId: null,
    replayedFromTaskRunId: null,
    queue: "task/bench-raw",
    concurrencyKey: null,
    maxAttempts: null,
    parentTaskRunId: null,
    rootTaskRunId: null,
    depth: 0,
  };
}

/** RAW_CLIENTS connections, each inserting one run per statement with the trigger's prepared INSERT. */
async function rawInserts(databaseUrl: string, environmentId: string, projectId: string): Promise<number> {
  const clients = await Promise.all(
    Array.from({ length: RAW_CLIENTS }, async () => {
      const c = new pg.Client({ connectionString: databaseUrl });
      await c.connect();
      return c;
    }),
  );
  try {
    let total = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const started = performance.now();
    await Promise.all(
      clients.map(async (c) => {
        while (performance.now() < deadline) {
          const row = benchRun(environmentId, projectId, total);
          await c.query({ name: "raw-insert", text: INSERT_ONE_SQL, values: insertOneParams(row) });
          total++;
        }
      }),
    );
    return total / ((performance.now() - started) / 1000);
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}

/** One connection inserting BATCH_SIZE runs per statement with the batch's multi-row INSERT; rows/s. */
async function rawMultiInserts(databaseUrl: string, environmentId: string, projectId: string): Promise<number> {
  return withClient(databaseUrl, async (c) => {
    let rows = 0;
    const deadline = performance.now() + SECONDS * 1000;
    const started = performance.now();
    while (performance.now() < deadline) {
      const runs = Array.from({ length: BATCH_SIZE }, (_, i) => benchRun(environmentId, projectId, i));
      await c.query({ name: "raw-insert-many", text: INSERT_MANY_SQL, values: insertManyParams(runs) });
      rows += BATCH_SIZE;
    }
    return rows / ((performance.now() - started) / 1000);
  });
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

await runBench(main, stops);
