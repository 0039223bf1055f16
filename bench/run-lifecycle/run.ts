/**
 * The run lifecycle's timers and dequeue: 10,000 delayed runs due in one second, and claims per second beside a raw SKIP LOCKED loop.
 *
 *   pnpm bench run-lifecycle [--runs 10000] [--clients 4] [--batch 50]
 *
 * Prints, on one Postgres, in one run:
 *   - timer precision: --runs DELAYED runs all due in the same second, armed as the trigger path arms
 *     them (bucket timers, docs/decisions/093-run-lifecycle-timers.md), promoted by the engine
 *     (graphile-worker); how late each run's `queuedAt` is after its `delayUntil` (max, p99, p50);
 *     goal: all within 1 s;
 *   - dequeue throughput: --clients loops claiming --batch runs at a time with the worker's claim
 *     (fair across environments and queues, attempt rows written) until the queue is empty, beside the
 *     same loops on a raw `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)` over a plain table
 *     of as many rows (oldest first, no fairness, no attempt rows; both mark rows as executing with a
 *     start time, both named prepared statements on one `pg` pool); the two take turns on eighths of
 *     their rows; goal: ratio ≥ 0.5. Beside it the same ratio in CPU time (the pool's Postgres backends
 *     and this process; only when Postgres runs on this machine), which a loaded machine disturbs less.
 * Uses DATABASE_URL when set (a fresh database is created on that server and dropped afterwards), else
 * starts embedded Postgres in a temp folder.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import pg from "pg";
import { createPrismaClient, migrate } from "../../packages/database/src/index.js";
import { createDatabase, postgresServer } from "../../packages/devstack/src/services.js";
import { BenchReport, round } from "../report.js";
import { seedProject } from "../../apps/webapp/app/services/seed.server.js";
import { createLogger } from "../../apps/webapp/app/services/logger.server.js";
import { RunEngine } from "../../apps/webapp/app/engine/runEngine.server.js";
import { armDelayTimers } from "../../apps/webapp/app/engine/delays.server.js";
import { claimRuns } from "../../apps/webapp/app/worker/claim.server.js";

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const RUNS = Math.min(Math.max(arg("runs", 10_000), 100), 100_000);
const CLIENTS = Math.min(Math.max(arg("clients", 4), 1), 32);
const BATCH = Math.min(Math.max(arg("batch", 50), 1), 1_000);
/** Turns the claim and the raw loop take on the rows (even, so each goes first as often). */
const TURNS = 8;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const stops: Array<() => Promise<void>> = [];

async function main() {
  const postgres = await postgresServer(process.env.DATABASE_URL, "runfeed-bench");
  stops.push(postgres.stop);
  const database = await createDatabase(postgres.url, `bench_lifecycle_${randomBytes(4).toString("hex")}`);
  stops.push(database.drop);
  await migrate(database.url);
  const prisma = createPrismaClient(database.url, { max: CLIENTS + 4 });
  stops.push(() => prisma.$disconnect());
  const project = await seedProject(prisma, {
    orgSlug: "bench",
    orgTitle: "Bench",
    projectSlug: "bench",
    projectName: "Bench",
  });
  const environments = project.environments;
  const logger = createLogger("warn");

  // ---- timer precision: RUNS delayed runs due in the same second
  const dueAt = new Date(Math.ceil((Date.now() + 8_000) / 1000) * 1000 + 500);
  console.log(`inserting ${fmt(RUNS)} DELAYED runs due at ${dueAt.toISOString()} (spread over that second)…`);
  await prisma.$executeRaw`
    INSERT INTO "TaskRun" (id, "friendlyId", "taskIdentifier", "runtimeEnvironmentId", "projectId", status,
                           "createdAt", "updatedAt", "delayUntil", payload, queue, "runTags")
    SELECT 'bench' || i, 'run_bench' || i, 'bench-task', (${environments.map((e) => e.id)}::text[])[1 + i % ${environments.length}],
           ${project.projectId}, 'DELAYED', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC',
           ${dueAt.toISOString()}::timestamp + make_interval(secs => (i % 1000) / 2000.0), '{}',
           'task/bench-task-' || (i % 10), '{}'
    FROM generate_series(1, ${RUNS}) AS i`;
  const due = await prisma.$queryRaw<Array<{ status: "DELAYED"; delayUntil: Date }>>`
    SELECT DISTINCT 'DELAYED' AS status, "delayUntil" FROM "TaskRun" WHERE status = 'DELAYED'`;
  await armDelayTimers(prisma, due);
  const engine = new RunEngine({
    prisma,
    connectionString: database.url,
    logger,
    retryOptionsOf: () => undefined,
    heartbeatTimeoutMs: 30_000,
    sweepIntervalMs: 1_000,
    timerPollIntervalMs: 100,
    timerConcurrency: 4,
  });
  await engine.start();
  stops.push(() => engine.stop());
  const load = loadavg()[0]!;
  for (;;) {
    const [{ left }] = await prisma.$queryRaw<
      [{ left: number }]
    >`SELECT count(*)::int AS left FROM "TaskRun" WHERE status = 'DELAYED'`;
    if (left === 0) break;
    if (Date.now() > dueAt.getTime() + 30_000) throw new Error(`${left} runs still DELAYED 30 s after their time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const [late] = await prisma.$queryRaw<[{ max: number; p99: number; p50: number }]>`
    SELECT max(ms)::float8 AS max, percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50
    FROM (SELECT EXTRACT(EPOCH FROM ("queuedAt" - "delayUntil")) * 1000 AS ms FROM "TaskRun" WHERE id LIKE 'bench%') t`;
  await engine.stop();
  stops.pop();
  console.log(
    `timers: ${fmt(RUNS)} runs due within one second, queued at most ${fmt(late.max)} ms late ` +
      `(p99 ${fmt(late.p99)} ms, p50 ${fmt(late.p50)} ms; goal ≤ 1,000 ms) — load average ${load.toFixed(1)}`,
  );

  // ---- dequeue: the worker's claim vs a raw SKIP LOCKED loop, same rows, same clients, same pool
  const pool = new pg.Pool({ connectionString: database.url, max: CLIENTS, idleTimeoutMillis: 0 });
  stops.push(() => pool.end());
  await pool.query(
    `CREATE TABLE bench_queue (id bigserial PRIMARY KEY, status text NOT NULL, queued_at timestamptz NOT NULL DEFAULT now(), started_at timestamptz)`,
  );
  await pool.query(`INSERT INTO bench_queue (status) SELECT 'queued' FROM generate_series(1, $1)`, [RUNS]);
  await pool.query(`CREATE INDEX ON bench_queue (queued_at) WHERE status = 'queued'`);
  const ourClaim = async (client: number) => (await claimRuns(pool, BATCH, `bench-${client}`)).length;
  const rawClaim = async () =>
    (
      await pool.query({
        name: "raw-claim",
        text: `UPDATE bench_queue SET status = 'executing', started_at = now()
         WHERE id IN (SELECT id FROM bench_queue WHERE status = 'queued' ORDER BY queued_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING id`,
        values: [BATCH],
      })
    ).rowCount ?? 0;
  const backends = await poolBackends(pool);
  // The two take turns on eighths of their rows (ours, raw | raw, ours | …), so a change in the
  // machine's load during the bench weighs on both alike.
  const claim = { rows: 0, ms: 0, cpuMs: 0 };
  const raw = { rows: 0, ms: 0, cpuMs: 0 };
  const turn = Math.ceil(RUNS / TURNS);
  for (let round = 1; round <= TURNS; round++) {
    const until = Math.min(RUNS, round * turn);
    const ours = { take: ourClaim, total: claim };
    const theirs = { take: rawClaim, total: raw };
    for (const { take, total } of round % 2 === 1 ? [ours, theirs] : [theirs, ours])
      await drain(take, total, until, backends);
  }
  const claimed = claim.rows;
  const claimRate = claim.rows / (claim.ms / 1000);
  const rawRate = raw.rows / (raw.ms / 1000);
  // CPU per run: ours over raw's is the ratio of the throughputs the CPU alone would allow.
  const cpuRatio = backends.length > 0 ? raw.cpuMs / raw.rows / (claim.cpuMs / claim.rows) : Number.NaN;
  const loadAfter = loadavg()[0]!;
  console.log(
    `dequeue: ${fmt(claimRate)} runs/s with the worker's claim (${fmt(claimed)} runs, ${CLIENTS} clients × ${BATCH}) ` +
      `beside ${fmt(rawRate)} rows/s raw SKIP LOCKED: ratio ${(claimRate / rawRate).toFixed(2)} (goal ≥ 0.5) — load average ${loadAfter.toFixed(1)}`,
  );
  if (backends.length > 0)
    console.log(
      `dequeue CPU (Postgres backends + this process): ${((claim.cpuMs / claim.rows) * 1000).toFixed(0)} µs per run ` +
        `with the worker's claim beside ${((raw.cpuMs / raw.rows) * 1000).toFixed(0)} µs per row raw: ratio ${cpuRatio.toFixed(2)}`,
    );

  const report = new BenchReport("run-lifecycle");
  report.add("timers", {
    runs: RUNS,
    maxLateMs: round(late.max),
    p99LateMs: round(late.p99),
    p50LateMs: round(late.p50),
    allWithin1s: late.max <= 1_000,
  });
  report.add("dequeue", {
    clients: CLIENTS,
    batch: BATCH,
    claimPerSecond: round(claimRate),
    rawSkipLockedPerSecond: round(rawRate),
    ratio: round(claimRate / rawRate, 2),
    claimCpuMicrosPerRun: round((claim.cpuMs / claim.rows) * 1000),
    rawCpuMicrosPerRow: round((raw.cpuMs / raw.rows) * 1000),
    cpuRatio: round(cpuRatio, 2),
  });
  report.add("machine", { loadAverageStart: round(load, 1), loadAverageEnd: round(loadAfter, 1) });
  for (const stop of stops.reverse()) await stop().catch(() => {});
  stops.length = 0;
  report.print();
}

/**
 * CLIENTS loops calling `take` until `total.rows` reaches `until` or nothing is left; adds rows, time and
 * CPU time (of `backends` and this process) to `total`.
 */
async function drain(
  take: (client: number) => Promise<number>,
  total: { rows: number; ms: number; cpuMs: number },
  until: number,
  backends: number[],
) {
  const cpuBefore = cpuMs(backends);
  const ownBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      while (total.rows < until) {
        const rows = await take(client);
        if (rows === 0) return;
        total.rows += rows;
      }
    }),
  );
  total.ms += performance.now() - started;
  const own = process.cpuUsage(ownBefore);
  total.cpuMs += cpuMs(backends) - cpuBefore + (own.user + own.system) / 1000;
}

/**
 * The process ids of the pool's CLIENTS connections (all opened now; the pool never closes an idle one),
 * or none when Postgres does not run on this machine (its /proc entry is not a postgres process).
 */
async function poolBackends(pool: pg.Pool): Promise<number[]> {
  const clients = await Promise.all(Array.from({ length: CLIENTS }, () => pool.connect()));
  try {
    const pids = await Promise.all(
      clients.map(
        async (client) => (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid,
      ),
    );
    const local = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").startsWith("postgres");
      } catch {
        return false;
      }
    };
    return pids.every(local) ? pids : [];
  } finally {
    for (const client of clients) client.release();
  }
}

/** CPU time (user + system) of these processes so far, in ms (/proc, 10 ms resolution per process). */
function cpuMs(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10; // USER_HZ is 100
}

main().catch(async (error) => {
  console.error(`run-lifecycle failed: ${(error as Error).message}`);
  for (const stop of stops.reverse()) await stop().catch(() => {});
  process.exit(1);
});
