/**
 * Vitest globalSetup: real Postgres (logical replication) and real Redis for the whole run.
 * Uses DATABASE_URL / REDIS_URL when given, else starts embedded Postgres and a redis-server.
 * A migrated template database is made once; each test file clones it (see test-context.ts).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import pg from "pg";
import { migrate } from "@runfeed/database/migrate";
import { startEmbeddedPostgres } from "./postgres.js";
import { startRedisServer } from "./redis.js";

export const TEMPLATE_DB = "runfeed_test_template";

declare module "vitest" {
  export interface ProvidedContext {
    databaseServerUrl: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const stops: Array<() => Promise<void>> = [];
  let serverUrl: string;
  if (process.env.DATABASE_URL) {
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = "";
    serverUrl = url.toString().replace(/\/$/, "");
  } else {
    const dataDir = await mkdtemp(path.join(tmpdir(), "runfeed-test-pg-"));
    const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
    serverUrl = postgres.serverUrl;
    stops.push(async () => {
      await postgres.stop();
      await rm(dataDir, { recursive: true, force: true });
    });
  }
  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const redis = await startRedisServer();
    redisUrl = redis.url;
    stops.push(redis.stop);
  }

  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  await admin.end();
  await migrate(`${serverUrl}/${TEMPLATE_DB}`);

  project.provide("databaseServerUrl", serverUrl);
  project.provide("redisUrl", redisUrl);

  return async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
  };
}
