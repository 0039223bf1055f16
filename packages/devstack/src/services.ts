/**
 * The one way tests and benchmarks get their services: the servers named by DATABASE_URL / REDIS_URL
 * when given, else a throwaway embedded Postgres (logical replication) and redis-server.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedPostgres } from "./postgres.js";
import { startRedisServer } from "./redis.js";

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/** A Postgres server URL without a database name: `databaseUrl`'s server, or a new embedded one. */
export async function postgresServer(databaseUrl: string | undefined, label = "runfeed"): Promise<RunningServer> {
  if (databaseUrl) {
    const url = new URL(databaseUrl);
    url.pathname = "";
    return { url: url.toString().replace(/\/$/, ""), stop: async () => {} };
  }
  const dataDir = await mkdtemp(path.join(tmpdir(), `${label}-pg-`));
  try {
    const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
    return { url: postgres.serverUrl, stop: () => postgres.stop() };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
}

/** `redisUrl`, or a new redis-server on a free port (`log` hears of an installation, prerequisites.ts). */
export async function redisServer(redisUrl: string | undefined, log?: (line: string) => void): Promise<RunningServer> {
  if (redisUrl) return { url: redisUrl, stop: async () => {} };
  return startRedisServer({ log });
}

/** Runs `fn` with a client on the server's `postgres` database. */
export async function withAdmin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}

/** Creates database `name` (optionally from a template); drop() removes it and its idle replication slots. */
export async function createDatabase(
  serverUrl: string,
  name: string,
  options: { template?: string } = {},
): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  await withAdmin(serverUrl, (admin) =>
    admin.query(`CREATE DATABASE ${name}${options.template ? ` TEMPLATE ${options.template}` : ""}`),
  );
  return {
    name,
    url: `${serverUrl}/${name}`,
    drop: () =>
      withAdmin(serverUrl, async (admin) => {
        // Slots are per cluster; drop this database's idle ones so the server keeps no WAL for them.
        await admin.query(
          `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`,
          [name],
        );
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}
