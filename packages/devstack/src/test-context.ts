/**
 * Per-test-file isolation on the services started by test-setup.ts:
 * a fresh database cloned from the migrated template, and a Redis key prefix of its own.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { TEMPLATE_DB } from "./test-setup.js";

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export function testServices() {
  return { databaseServerUrl: inject("databaseServerUrl"), redisUrl: inject("redisUrl") };
}

/** Creates `test_<random>` from the migrated template. Drop it in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject("databaseServerUrl");
  const name = `test_${randomBytes(6).toString("hex")}`;
  await withAdmin(serverUrl, (admin) => admin.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`));
  return {
    name,
    url: `${serverUrl}/${name}`,
    drop: async () => {
      await withAdmin(serverUrl, async (admin) => {
        // Slots are per cluster; drop the ones that belong to this database so WAL is not retained.
        await admin.query(
          `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = $1 AND NOT active`,
          [name],
        );
        await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      });
    },
  };
}

/** A Redis key prefix unique to this test file. */
export function testRedisPrefix(): string {
  return `test:${randomBytes(4).toString("hex")}:`;
}

async function withAdmin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: `${serverUrl}/postgres` });
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.end();
  }
}
