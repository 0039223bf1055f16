/**
 * The whole stack for the dashboard bench, on loopback: Postgres (DATABASE_URL's server or embedded),
 * Redis (REDIS_URL or a spawned redis-server), shape-sync as a child process (as `pnpm start` runs
 * it) and the webapp in this process.
 */
import { randomBytes } from "node:crypto";
import { migrate } from "../../packages/database/src/migrate.js";
import {
  createDatabase,
  freePort,
  postgresServer,
  redisServer,
  spawnShapeSync,
} from "../../packages/devstack/src/index.js";
import { parseEnv } from "../../apps/webapp/app/env.server.js";
import { createWebapp, listen, type Webapp } from "../../apps/webapp/server/app.js";

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
    stops.push((await spawnShapeSync({ databaseUrl, port: shapePort })).stop);

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
