/**
 * The whole system for one test file, as `pnpm start` runs it: shape-sync, the webapp (production
 * bundle) and, when a test starts one, the worker, each a child process on the file's own database
 * (cloned from the migrated template) and Redis key prefix, with the demo project seeded. Tests reach
 * it over HTTP as any client would, and read or arrange rows with `prisma`.
 */
import type { PrismaClient } from "@runfeed/database";
import { spawnShapeSync, type ShapeSyncProcess } from "./shape-sync.js";
import { freePort } from "./redis.js";
import { createTestDatabase, testRedisPrefix, testServices, type TestDatabase } from "./test-context.js";
import {
  seedDemo,
  spawnWebapp,
  spawnWorker,
  type ChildHandle,
  type SeededEnvironment,
  type WebappProcess,
} from "./webapp.js";

export interface DevStack {
  /** The webapp's origin (API, realtime routes, dashboard). */
  baseURL: string;
  /** The dev environment's root secret key. */
  secretKey: string;
  /** The demo project's dev environment (its id and secret key). */
  devEnvironment: SeededEnvironment;
  /** The demo project's environments: dev, staging, prod. */
  environments: SeededEnvironment[];
  database: TestDatabase;
  /** A client on the stack's database (two connections). */
  prisma: PrismaClient;
  webapp: WebappProcess;
  shapeSync: ShapeSyncProcess;
  /**
   * Starts the worker process unless one runs (runs stay QUEUED until then); `settings` are added to
   * the stack's for this worker (e.g. `REALTIME_BACKEND: "native"`, so it signals native feeds).
   */
  startWorker(settings?: Record<string, string>): void;
  /**
   * Another webapp on this stack's database and Redis, with `settings` added to the stack's (e.g. another
   * realtime backend); stopped with the stack.
   */
  spawnWebapp(settings: Record<string, string>): Promise<WebappProcess>;
  /** Stops the worker process and waits for its exit (runs triggered afterwards stay QUEUED). */
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

/** `settings` go to the webapp and the worker (apps/webapp/app/env.server.ts names them). */
export async function startStack(settings: Record<string, string> = {}): Promise<DevStack> {
  const database = await createTestDatabase();
  const services = {
    databaseUrl: database.url,
    redisUrl: testServices().redisUrl,
    redisKeyPrefix: testRedisPrefix(),
    env: settings,
  };
  const shapePort = await freePort();
  const started = await Promise.allSettled([
    spawnShapeSync({ databaseUrl: database.url, port: shapePort }),
    spawnWebapp({ ...services, electricOrigin: `http://127.0.0.1:${shapePort}` }),
    seedDemo(services),
  ]);
  const [shapeSync, webapp, seeded] = started;
  if (shapeSync.status === "rejected" || webapp.status === "rejected" || seeded.status === "rejected") {
    if (webapp.status === "fulfilled") await webapp.value.stop();
    if (shapeSync.status === "fulfilled") await shapeSync.value.stop();
    await database.drop();
    throw started.find((s) => s.status === "rejected")!.reason;
  }
  const { createPrismaClient } = await import("@runfeed/database");
  const prisma = createPrismaClient(database.url, { max: 2 });
  const { environments } = seeded.value;
  const devEnvironment = environments.find((e) => e.slug === "dev")!;
  let worker: ChildHandle | undefined;
  const more: WebappProcess[] = [];
  const stopWorker = async () => {
    const running = worker;
    worker = undefined;
    await running?.stop();
  };
  return {
    baseURL: webapp.value.url,
    secretKey: devEnvironment.apiKey,
    devEnvironment,
    environments,
    database,
    prisma,
    webapp: webapp.value,
    shapeSync: shapeSync.value,
    startWorker(settings = {}) {
      worker ??= spawnWorker({ ...services, env: { ...services.env, ...settings }, appOrigin: webapp.value.url });
    },
    stopWorker,
    async spawnWebapp(settings) {
      const started = await spawnWebapp({ ...services, env: { ...services.env, ...settings } });
      more.push(started);
      return started;
    },
    async close() {
      await stopWorker();
      await Promise.all(more.map((started) => started.stop()));
      await webapp.value.stop();
      await shapeSync.value.stop();
      await prisma.$disconnect();
      await database.drop();
    },
  };
}
