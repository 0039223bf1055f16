/**
 * `pnpm start` (and `pnpm dev`): the whole system on one machine with embedded defaults.
 *
 *   Postgres  DATABASE_URL, else embedded Postgres (wal_level=logical) with data in RUNFEED_DATA_DIR
 *   Redis     REDIS_URL, else redis-server from the PATH (installed first as root with apt-get) on a free port
 *   shapes    ELECTRIC_ORIGIN, else apps/shape-sync (built) as a child process
 *   webapp    apps/webapp as a child process after migrations and the demo seed: the production bundle
 *             (built when missing or older than its sources), or Vite with HMR under `--dev`
 *   worker    apps/webapp/server/worker.ts as a child process: executes runs and fires the lifecycle's
 *             timers; restarted whenever it exits (docs/decisions/093-run-lifecycle-timers.md)
 *
 * Prints the webapp URL, the shape server URL, the demo environment's secret key and sign-in.
 * Ctrl-C stops everything it started, in reverse order, and exits 0. A failure is one line naming
 * its cause.
 */
import path from "node:path";
import pg from "pg";
import { migrate } from "@runfeed/database/migrate";
import { PRISMA_CLIENT_BUILD, ROOT, SHAPE_SYNC_BUILD, WEBAPP_BUILD, ensureBuilt, ensureBuiltSync } from "./builds.js";
import { parseStartEnv } from "./env.js";
import { StartError, oneLine } from "./errors.js";
import { startEmbeddedPostgres } from "./postgres.js";
import { REDIS_SERVER, ensureProgram } from "./prerequisites.js";
import { freePort, startRedisServer } from "./redis.js";
import { runToCompletion, startProcess, style, waitForHttp, type ManagedProcess } from "./processes.js";
import { seedDemo, webappArgs } from "./webapp.js";

const NODE = process.execPath;
const log = (message: string) => process.stdout.write(`${style("1", "[start]")} ${message}\n`);
const DEV = process.argv.includes("--dev");

const stops: Array<() => Promise<void>> = [];
const children: ManagedProcess[] = [];
let stopping = false;

async function stopAll(code: number) {
  if (stopping) return;
  stopping = true;
  log("stopping…");
  for (const child of [...children].reverse()) await child.stop();
  for (const stop of [...stops].reverse()) await stop().catch((e) => log(`stop failed: ${oneLine(e)}`));
  log("stopped");
  process.exit(code);
}

// Ctrl-C (and a polite kill) is how this command is meant to end: stop everything, exit 0. Every
// child runs in its own process group, so the terminal's SIGINT reaches only us and we stop them in order.
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void stopAll(0));

try {
  const env = parseStartEnv(process.env);
  // Everything that can be missing is checked before anything starts.
  if (!env.REDIS_URL) await ensureProgram(REDIS_SERVER, { log });
  ensureBuiltSync(PRISMA_CLIENT_BUILD, log);
  if (!env.ELECTRIC_ORIGIN) ensureBuiltSync(SHAPE_SYNC_BUILD, log);
  if (!DEV) await ensureBuilt(WEBAPP_BUILD, log);

  const databaseUrl = await startDatabase(env);
  const redisUrl = await startRedis(env);
  const electricOrigin = env.ELECTRIC_ORIGIN ?? (await startShapeSync(databaseUrl, env));
  const webappPort = await freePort(env.PORT);
  const webappEnv = {
    NODE_ENV: DEV ? "development" : "production",
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    ELECTRIC_ORIGIN: electricOrigin,
    PORT: String(webappPort),
  };
  const seeded = await seedDemo({ databaseUrl, redisUrl });

  log(`starting the webapp (${DEV ? "Vite with HMR" : "production build"})`);
  const webapp = startProcess("webapp", NODE, webappArgs("server/index.ts"), {
    cwd: ROOT,
    // Seeded demo mode: the sign-in form offers the demo user's email. Runs execute in the worker process.
    env: { ...webappEnv, DEMO_SIGN_IN_EMAIL: seeded.user?.email ?? "", WORKER_ENABLED: "false" },
    onExit: (code) => {
      if (!stopping) {
        log(`webapp exited (${code}); stopping`);
        void stopAll(1);
      }
    },
  });
  children.push(webapp);
  superviseWorker({ ...webappEnv, APP_ORIGIN: `http://127.0.0.1:${webappPort}` });
  const webappUrl = `http://127.0.0.1:${webappPort}`;
  await waitForHttp(
    `${webappUrl}/healthz`,
    120_000,
    () => true,
    () => webapp.child.exitCode === null,
  );

  const dev = seeded.environments.find((e) => e.slug === "dev") ?? seeded.environments[0]!;
  if (env.SEED_DEMO_SCENARIO === "true") await triggerDemoScenario(webappEnv);

  printBanner({ webappUrl, electricOrigin, seeded, devKey: dev.apiKey });
} catch (error) {
  log(`failed: ${oneLine(error)}`);
  await stopAll(1);
}

type SeedOutput = Awaited<ReturnType<typeof seedDemo>>;

async function startDatabase(env: ReturnType<typeof parseStartEnv>): Promise<string> {
  let url = env.DATABASE_URL;
  if (!url) {
    const dataDir = path.resolve(ROOT, env.RUNFEED_DATA_DIR, "postgres");
    const shown = path.relative(ROOT, dataDir).startsWith("..") ? dataDir : path.relative(ROOT, dataDir);
    log(`starting embedded Postgres (wal_level=logical), data in ${shown}`);
    const postgres = await startEmbeddedPostgres({
      dataDir,
      port: await freePort(env.EMBEDDED_POSTGRES_PORT),
      ownProcessGroup: true,
      log,
    });
    stops.push(() => postgres.stop());
    if (postgres.clusterDir !== dataDir) {
      log(`the postgres OS user cannot enter ${shown}: it links to ${postgres.clusterDir}`);
    }
    await ensureDatabase(postgres.serverUrl, "runfeed");
    url = `${postgres.serverUrl}/runfeed`;
  } else {
    log(`using DATABASE_URL (${new URL(url).host})`);
  }
  await assertLogicalReplication(url);
  const { applied } = await migrate(url, (m) => log(m));
  log(applied.length ? `applied ${applied.length} migration(s)` : "database schema is up to date");
  return url;
}

async function startRedis(env: ReturnType<typeof parseStartEnv>): Promise<string> {
  if (env.REDIS_URL) {
    log(`using REDIS_URL (${new URL(env.REDIS_URL).host})`);
    return env.REDIS_URL;
  }
  // Append-only file kept between runs: write-pipeline items acknowledged but not yet drained survive.
  const dir = path.resolve(ROOT, env.RUNFEED_DATA_DIR, "redis");
  const redis = await startRedisServer({ log, dir, appendfsync: env.REDIS_APPENDFSYNC });
  stops.push(redis.stop);
  log(`started redis-server at ${redis.url} (append-only file in ${dir}, appendfsync ${env.REDIS_APPENDFSYNC})`);
  return redis.url;
}

async function startShapeSync(databaseUrl: string, env: ReturnType<typeof parseStartEnv>): Promise<string> {
  const port = await freePort(env.ELECTRIC_PORT);
  const origin = `http://127.0.0.1:${port}`;
  log(`starting shape-sync on ${origin}`);
  const child = startProcess("shape-sync", NODE, [ensureBuiltSync(SHAPE_SYNC_BUILD)], {
    cwd: ROOT,
    env: {
      DATABASE_URL: databaseUrl,
      ELECTRIC_PORT: String(port),
      ELECTRIC_STORAGE_DIR: path.resolve(ROOT, env.RUNFEED_DATA_DIR, "shape-sync"),
    },
    onExit: (code) => {
      if (!stopping) {
        log(`shape-sync exited (${code}); stopping`);
        void stopAll(1);
      }
    },
  });
  children.push(child);
  await waitForHttp(
    `${origin}/v1/health`,
    60_000,
    (body) => body.includes('"active"'),
    () => child.child.exitCode === null,
  ).catch((error) => {
    throw new StartError(`shape-sync did not start: ${oneLine(error)}`);
  });
  return origin;
}

async function ensureDatabase(serverUrl: string, name: string) {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}

async function assertLogicalReplication(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect().catch((error) => {
    throw new StartError(`cannot connect to Postgres at ${new URL(url).host}: ${oneLine(error)}`);
  });
  try {
    const { rows } = await client.query<{ wal_level: string }>("SHOW wal_level");
    if (rows[0]?.wal_level !== "logical") {
      throw new StartError(
        `Postgres at ${new URL(url).host} has wal_level=${rows[0]?.wal_level}; runfeed streams changes through logical replication. ` +
          "Set wal_level=logical and restart it, or unset DATABASE_URL to use the embedded Postgres.",
      );
    }
  } finally {
    await client.end();
  }
}

/** Time between a worker's exit and its restart (a worker that dies at once is not restarted in a tight loop). */
const WORKER_RESTART_DELAY_MS = 1_000;

/**
 * The worker process (apps/webapp/server/worker.ts): restarted whenever it exits, since a task may
 * end it (`crashy`) and nothing else depends on it staying up; its runs are recovered by the engine.
 */
function superviseWorker(workerEnv: Record<string, string>): void {
  const launch = () => {
    if (stopping) return;
    log("starting the worker");
    const worker = startProcess("worker", NODE, webappArgs("server/worker.ts"), {
      cwd: ROOT,
      env: workerEnv,
      onExit: (code) => {
        children.splice(children.indexOf(worker), 1);
        if (stopping) return;
        log(`worker exited (${code ?? worker.child.signalCode}); restarting it`);
        setTimeout(launch, WORKER_RESTART_DELAY_MS);
      },
    });
    children.push(worker);
  };
  launch();
}

async function triggerDemoScenario(webappEnv: Record<string, string>) {
  try {
    const { runId } = JSON.parse(
      await runToCompletion(NODE, webappArgs("server/seed.ts", { args: ["scenario"] }), { cwd: ROOT, env: webappEnv }),
    ) as { runId: string };
    log(`triggered the demo CSV import (${runId}): watch its progress on the dashboard`);
  } catch (error) {
    log(`demo CSV import not triggered: ${oneLine(error)}`);
  }
}

function printBanner(info: { webappUrl: string; electricOrigin: string; seeded: SeedOutput; devKey: string }) {
  const lines = [
    "",
    `  runfeed is running${DEV ? " (development: Vite with HMR)" : ""}`,
    "",
    `  Webapp (dashboard + API)   ${info.webappUrl}`,
    `  Shape server (Electric)    ${info.electricOrigin}`,
    `  Demo dev secret key        ${info.devKey}`,
    ...(info.seeded.user
      ? [`  Dashboard sign-in          ${info.seeded.user.email} / ${info.seeded.user.password}`]
      : []),
    "",
    "  Trigger a run:",
    `    curl -X POST ${info.webappUrl}/api/v1/tasks/hello-world/trigger \\`,
    `      -H "Authorization: Bearer ${info.devKey}" -H "Content-Type: application/json" \\`,
    `      -d '{"payload":"{\\"name\\":\\"runfeed\\"}"}'`,
    "",
    "  Ctrl-C stops everything.",
    "",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}
