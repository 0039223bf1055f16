/**
 * (3b) Per-change matching cost in-process, without HTTP or Postgres in the measured path: synthetic
 * TaskRun update transactions (100 rows each, each row matching one `id = $1` shape) applied through
 * the registry (match → convert → durable append), CPU µs per change, with 100 and with N shapes.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startShapeServer } from "../../apps/shape-sync/src/server.js";
import { createShape, pool as inParallel, seedRuns } from "./common.js";

export async function benchMatching(databaseUrl: string, n: number): Promise<{ small: number; large: number }> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const storageDir = mkdtempSync(join(tmpdir(), "shape-sync-bench-match-"));
  const server = await startShapeServer({
    databaseUrl,
    storageDir,
    port: 0,
    logLevel: "warn",
    replicationStreamId: "bench_match",
  });
  try {
    await server.ready;
    await seedRuns(db, "mt_", n, () => "mt_env");
    const reg = server.registry()!;
    const row = (await db.query(`SELECT * FROM "TaskRun" WHERE id = 'mt_1'`)).rows[0] as Record<string, unknown>;
    const oid = (await db.query(`SELECT '"TaskRun"'::regclass::oid::int AS oid`)).rows[0].oid as number;
    const asText = (v: unknown) =>
      v === null
        ? null
        : v instanceof Date
          ? v.toISOString().replace("T", " ").replace("Z", "")
          : Array.isArray(v)
            ? `{${v.join(",")}}`
            : typeof v === "object"
              ? JSON.stringify(v)
              : String(v);
    const text = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, asText(v)]));
    let lsn = 1n << 40n;
    const measure = () => {
      const K = 20_000;
      const t = process.cpuUsage();
      for (let b = 0; b < K / 100; b++) {
        const changes = [];
        for (let i = 0; i < 100; i++) {
          const id = `mt_${(b * 37 + i) % 100}`;
          changes.push({
            oid,
            kind: "update" as const,
            old: { ...text, id },
            new: { ...text, id, usageDurationMs: String(b) },
          });
        }
        reg.router.applyTransaction({ xid: 4_000_000, commitLsn: ++lsn, endLsn: lsn, changes, truncated: [] });
      }
      const c = process.cpuUsage(t);
      return (c.user + c.system) / K;
    };
    const create = (from: number, to: number) =>
      inParallel(
        Array.from({ length: to - from }, (_, k) => from + k),
        16,
        async (i) => {
          await createShape(server.url, "id = $1", [`mt_${i}`]);
        },
      );
    await create(0, 100);
    measure(); // warm-up
    const small = Math.min(measure(), measure());
    await create(100, n);
    const large = Math.min(measure(), measure());
    return { small, large };
  } finally {
    await server.stop();
    await db
      .query(
        `SELECT pg_drop_replication_slot('electric_slot_bench_match') FROM pg_replication_slots WHERE slot_name = 'electric_slot_bench_match' AND NOT active`,
      )
      .catch(() => undefined);
    await db.end();
    rmSync(storageDir, { recursive: true, force: true });
  }
}
