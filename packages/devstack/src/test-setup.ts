/**
 * Vitest globalSetup: real Postgres (logical replication) and real Redis for the whole run.
 * Uses DATABASE_URL / REDIS_URL when given, else starts embedded Postgres and a redis-server
 * (installed first when missing and we may, prerequisites.ts). A migrated template database is
 * made once; each test file clones it (see test-context.ts). What the tests use is built here, once,
 * before test files load it in parallel: the Prisma client, the shape server and the webapp's
 * production bundle (builds.ts).
 *
 * If a service cannot start, the run stops with one line naming the cause.
 */
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { migrate } from "@runfeed/database/migrate";
import { PRISMA_CLIENT_BUILD, SHAPE_SYNC_BUILD, WEBAPP_BUILD, ensureBuilt, ensureBuiltSync } from "./builds.js";
import { oneLine } from "./errors.js";
import { REDIS_SERVER, ensureProgram } from "./prerequisites.js";
import type {} from "./provided-context.js";
import { createDatabase, postgresServer, redisServer, type RunningServer } from "./services.js";

const log = (line: string) => process.stderr.write(`[test setup] ${line}\n`);

export default async function setup(project: TestProject) {
  const started: RunningServer[] = [];
  const stopAll = async () => {
    for (const server of started.reverse()) await server.stop().catch(() => {});
  };
  try {
    // What can be missing is checked before anything starts.
    if (!process.env.REDIS_URL) await ensureProgram(REDIS_SERVER, { log });
    ensureBuiltSync(PRISMA_CLIENT_BUILD, log);
    ensureBuiltSync(SHAPE_SYNC_BUILD, log);
    await ensureBuilt(WEBAPP_BUILD, log);
    const postgres = await postgresServer(process.env.DATABASE_URL, "runfeed-test");
    started.push(postgres);
    const redis = await redisServer(process.env.REDIS_URL, log);
    started.push(redis);

    // Named per run: two runs against one DATABASE_URL server never touch each other's template.
    const template = await createDatabase(postgres.url, `runfeed_test_template_${randomBytes(4).toString("hex")}`);
    started.push({ url: template.url, stop: template.drop });
    await migrate(template.url);

    project.provide("databaseServerUrl", postgres.url);
    project.provide("templateDatabase", template.name);
    project.provide("redisUrl", redis.url);
  } catch (error) {
    // Vitest would print this with a stack trace and a misleading "no test files found"; one line instead.
    await stopAll();
    process.stderr.write(`\nThe tests cannot run: ${oneLine(error)}\n`);
    process.exit(1);
  }
  return stopAll;
}
