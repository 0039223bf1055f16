/**
 * Vitest globalSetup: real Postgres (logical replication) and real Redis for the whole run.
 * Uses DATABASE_URL / REDIS_URL when given, else starts embedded Postgres and a redis-server.
 * A migrated template database is made once; each test file clones it (see test-context.ts).
 * The shape server is built here, once, before test files that spawn it run in parallel.
 */
import type { TestProject } from "vitest/node";
import { migrate } from "@runfeed/database/migrate";
import { postgresServer, redisServer, withAdmin } from "./services.js";
import { shapeSyncEntry } from "./shape-sync.js";

export const TEMPLATE_DB = "runfeed_test_template";

declare module "vitest" {
  export interface ProvidedContext {
    databaseServerUrl: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  shapeSyncEntry();
  const postgres = await postgresServer(process.env.DATABASE_URL, "runfeed-test");
  const redis = await redisServer(process.env.REDIS_URL);

  await withAdmin(postgres.url, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  });
  await migrate(`${postgres.url}/${TEMPLATE_DB}`);

  project.provide("databaseServerUrl", postgres.url);
  project.provide("redisUrl", redis.url);

  return async () => {
    await redis.stop().catch(() => {});
    await postgres.stop().catch(() => {});
  };
}
