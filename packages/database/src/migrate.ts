/**
 * Applies prisma/migrations/<name>/migration.sql in name order, recording each in Prisma's own
 * `_prisma_migrations` table (same columns and sha256 checksum), so `prisma migrate deploy` agrees
 * with us wherever its engine is available. See docs/decisions/002-plain-sql-migrations.md.
 */
import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Logger, runMigrations } from "graphile-worker";
import pg from "pg";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../../prisma/migrations", import.meta.url));

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum" VARCHAR(64) NOT NULL,
  "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL,
  "logs" TEXT,
  "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

export interface MigrateResult {
  applied: string[];
  skipped: string[];
}

export async function migrate(databaseUrl: string, log: (message: string) => void = () => {}): Promise<MigrateResult> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // One migrator at a time per database (several test files or instances may start together).
    await client.query("SELECT pg_advisory_lock(hashtext('runfeed_migrate'))");
    await client.query(CREATE_TABLE);
    const done = await client.query<{ migration_name: string; checksum: string }>(
      `SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
    );
    const applied = new Map(done.rows.map((r) => [r.migration_name, r.checksum]));
    const names = (await readdir(MIGRATIONS_DIR, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
    const result: MigrateResult = { applied: [], skipped: [] };
    for (const name of names) {
      const sql = await readFile(path.join(MIGRATIONS_DIR, name, "migration.sql"), "utf8");
      const checksum = createHash("sha256").update(sql).digest("hex");
      const previous = applied.get(name);
      if (previous !== undefined) {
        if (previous !== checksum) {
          throw new Error(`Migration ${name} was changed after it was applied (checksum differs).`);
        }
        result.skipped.push(name);
        continue;
      }
      log(`applying migration ${name}`);
      await client.query("BEGIN");
      try {
        await client.query(sql);
        await client.query(
          `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, applied_steps_count)
           VALUES ($1, $2, now(), $3, 1)`,
          [randomUUID(), checksum, name],
        );
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK");
        throw new Error(`Migration ${name} failed: ${(error as Error).message}`);
      }
      result.applied.push(name);
    }
    // The durable timers' schema (graphile_worker, docs/decisions/093-run-lifecycle-timers.md): the
    // library's own migrations, while we still hold our lock, so runs and timers are installed together.
    await runMigrations({ connectionString: databaseUrl, logger: quietLogger });
    return result;
  } finally {
    await client.query("SELECT pg_advisory_unlock(hashtext('runfeed_migrate'))").catch(() => {});
    await client.end();
  }
}

const quietLogger = new Logger(() => () => {});

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error("DATABASE_URL is required: DATABASE_URL=postgres://… pnpm --filter @runfeed/database migrate");
    process.exit(2);
  }
  const { applied, skipped } = await migrate(url, console.log);
  console.log(`migrations: ${applied.length} applied, ${skipped.length} already applied`);
}
