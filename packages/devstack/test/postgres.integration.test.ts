/**
 * Embedded Postgres run as root (postgres.ts): postgres runs as the `postgres` OS user, which cannot
 * enter a folder only root may (a clone under a 0700 home directory or `mktemp -d`). The cluster
 * then lives under ROOT_POSTGRES_HOME with owner and mode set by us, and the data path links to it.
 * As any other user the cluster simply stays where it is asked to be.
 */
import { execFileSync } from "node:child_process";
import { existsSync, lstatSync, readlinkSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer } from "node:net";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { ROOT_POSTGRES_HOME, startEmbeddedPostgres, type RunningPostgres } from "../src/postgres.js";

const isRoot = process.getuid?.() === 0;
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function closedFolder(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "runfeed-closed-")); // mode 0700, owned by us
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function query(postgres: RunningPostgres, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: `${postgres.serverUrl}/postgres` });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

describe("embedded Postgres", () => {
  it("runs with logical replication, the cluster private to the user postgres runs as", {
    timeout: 60_000,
  }, async () => {
    const dataDir = path.join(await closedFolder(), "postgres");
    const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
    cleanups.push(() => postgres.stop());
    expect(await query(postgres, "SHOW wal_level")).toEqual([{ wal_level: "logical" }]);
    const stat = statSync(postgres.clusterDir);
    expect(stat.mode & 0o777).toBe(0o700);
    const postgresUid = isRoot
      ? Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }))
      : process.getuid!();
    expect(stat.uid).toBe(postgresUid);
  });

  it("takes another free port when its port is taken before postgres binds it", { timeout: 60_000 }, async () => {
    const squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, "127.0.0.1", resolve));
    cleanups.push(() => new Promise((resolve) => squatter.close(() => resolve())));
    const taken = (squatter.address() as { port: number }).port;
    const said: string[] = [];
    const dataDir = path.join(await closedFolder(), "postgres");
    const postgres = await startEmbeddedPostgres({ dataDir, port: taken, persistent: false, log: (l) => said.push(l) });
    cleanups.push(() => postgres.stop());
    expect(postgres.port).not.toBe(taken);
    expect(said).toContain(`port ${taken} was taken before Postgres could bind it; trying ${postgres.port}`);
    expect(await query(postgres, "SELECT 1 AS one")).toEqual([{ one: 1 }]);
  });

  it.runIf(isRoot)(
    "as root, a data path the postgres user cannot reach links to a cluster under ROOT_POSTGRES_HOME",
    { timeout: 60_000 },
    async () => {
      const dataDir = path.join(await closedFolder(), "data", "postgres");
      const postgres = await startEmbeddedPostgres({ dataDir, persistent: false });
      cleanups.push(() => postgres.stop());

      expect(path.dirname(postgres.clusterDir)).toBe(path.join(ROOT_POSTGRES_HOME, "data"));
      expect(readlinkSync(dataDir)).toBe(postgres.clusterDir);
      for (const dir of [ROOT_POSTGRES_HOME, path.join(ROOT_POSTGRES_HOME, "data")]) {
        expect({ dir, uid: statSync(dir).uid, mode: statSync(dir).mode & 0o777 }).toEqual({ dir, uid: 0, mode: 0o755 });
      }
      expect(await query(postgres, "SELECT 1 AS one")).toEqual([{ one: 1 }]);

      cleanups.pop();
      await postgres.stop();
      expect(existsSync(postgres.clusterDir)).toBe(false);
      expect(() => lstatSync(dataDir)).toThrow();
    },
  );

  it.runIf(isRoot)(
    "as root, a kept cluster is found again through its link, and removing the link starts a new one",
    { timeout: 90_000 },
    async () => {
      const dataDir = path.join(await closedFolder(), "postgres");
      const first = await startEmbeddedPostgres({ dataDir });
      await query(first, "CREATE TABLE kept (id int)");
      await first.stop();

      const second = await startEmbeddedPostgres({ dataDir });
      expect(second.clusterDir).toBe(first.clusterDir);
      expect(await query(second, "SELECT count(*)::int AS n FROM kept")).toEqual([{ n: 0 }]);
      await second.stop();

      await rm(dataDir); // the link, as `rm -rf .data` would
      const third = await startEmbeddedPostgres({ dataDir, persistent: false });
      cleanups.push(() => third.stop());
      expect(await query(third, "SELECT to_regclass('kept') AS kept")).toEqual([{ kept: null }]);
    },
  );
});
