/**
 * The whole stack for the dashboard bench, on loopback: Postgres (DATABASE_URL's server or embedded),
 * Redis (REDIS_URL or a spawned redis-server), shape-sync as a child process (as `pnpm start` runs
 * it) and the webapp in this process.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { migrate } from "../../packages/database/src/migrate.js";
import { createDatabase, freePort, postgresServer, redisServer } from "../../packages/devstack/src/index.js";
import { parseEnv } from "../../apps/webapp/app/env.server.js";
import { createWebapp, listen, type Webapp } from "../../apps/webapp/server/app.js";

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface BenchStack {
  databaseUrl: string;
  webappUrl: string;
  shapeOrigin: string;
  webapp: Webapp;
  stop(): Promise<void>;
}

/** `production` serves the built bundle (apps/webapp/build; `pnpm --filter @runfeed/webapp build`). */
export async function startStack(options: { mode: "production" | "development" }): Promise<BenchStack> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const fn of stops.reverse()) await fn().catch((error) => console.error("stop:", (error as Error).message));
  };
  try {
    const postgres = await postgresServer(process.env.DATABASE_URL, "runfeed-bench");
    stops.push(postgres.stop);
    const database = await createDatabase(postgres.url, `bench_dashboard_${randomBytes(4).toString("hex")}`);
    stops.push(database.drop);
    const databaseUrl = database.url;
    await migrate(databaseUrl);

    const redis = await redisServer(process.env.REDIS_URL);
    stops.push(redis.stop);
    const redisUrl = redis.url;

    const shapePort = await freePort();
    stops.push(await startShapeSync(databaseUrl, shapePort));

    const env = parseEnv({
      NODE_ENV: options.mode,
      LOG_LEVEL: "warn",
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: `bench:${randomBytes(3).toString("hex")}:`,
      ELECTRIC_ORIGIN: `http://127.0.0.1:${shapePort}`,
      WORKER_ENABLED: "false",
    });
    const webapp = await createWebapp(env);
    const { url, server } = await listen(webapp, 0, "127.0.0.1");
    stops.push(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await webapp.close();
    });
    return { databaseUrl, webappUrl: url, shapeOrigin: env.ELECTRIC_ORIGIN, webapp, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function startShapeSync(databaseUrl: string, port: number): Promise<() => Promise<void>> {
  const storageDir = await mkdtemp(path.join(tmpdir(), "runfeed-bench-shapes-"));
  const child = spawn(path.join(REPO_ROOT, "node_modules/.bin/tsx"), ["apps/shape-sync/src/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      ELECTRIC_PORT: String(port),
      ELECTRIC_INSECURE: "true",
      ELECTRIC_STORAGE_DIR: storageDir,
      ELECTRIC_REPLICATION_STREAM_ID: `bench_${randomBytes(4).toString("hex")}`,
      LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
    await rm(storageDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`shape-sync exited with ${child.exitCode}`);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/v1/health`);
      if (response.ok && ((await response.json()) as { status?: string }).status === "active") return stop;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error("shape-sync did not become active within 60 s");
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
