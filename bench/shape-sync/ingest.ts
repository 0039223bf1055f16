/**
 * (1) Ingest: N row updates committed in batches of 1,000, read from a slot created before the
 * writes. Raw limit: pg_recvlogical decoding the same WAL from its own slot (same publication).
 * Ours: the shape server (in-process) decoding, matching (100 indexed shapes, every change matches
 * one) and appending to durable shape logs.
 */
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { startShapeServer } from "../../apps/shape-sync/src/server.js";
import { createShape, pool as inParallel, seedRuns, waitFor } from "./common.js";

export interface IngestResult {
  updates: number;
  ours: number;
  raw: number;
  rawBin: string;
  /** CPU µs (user+sys) of the shape-server process per change, during the ingest. */
  cpuPerChange: number;
}

function recvlogicalBin(): string {
  for (const p of [
    "/usr/bin/pg_recvlogical",
    "/usr/lib/postgresql/17/bin/pg_recvlogical",
    "/usr/lib/postgresql/15/bin/pg_recvlogical",
  ])
    if (existsSync(p)) return p;
  throw new Error("pg_recvlogical not found");
}

export async function benchIngest(databaseUrl: string, updates: number): Promise<IngestResult> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  const rows = 100_000;
  const shapes = 100;
  const streamId = "bench_ingest";
  const storageDir = mkdtempSync(join(tmpdir(), "shape-sync-bench-ingest-"));
  try {
    await seedRuns(db, "ing_", rows, (i) => `ing_env_${i % shapes}`);
    // Create the shapes (slot + publication + table), then stop so the slot keeps the WAL we write next.
    let server = await startShapeServer({
      databaseUrl,
      storageDir,
      port: 0,
      replicationStreamId: streamId,
      logLevel: "warn",
      chunkBytesThreshold: 10 * 1024 * 1024,
    });
    await server.ready;
    await inParallel(
      Array.from({ length: shapes }, (_, i) => i),
      4,
      async (i) => {
        await createShape(server.url, `"runtimeEnvironmentId" = $1`, [`ing_env_${i}`]);
      },
    );
    await server.stop();
    await db.query(
      `SELECT pg_drop_replication_slot('bench_raw') FROM pg_replication_slots WHERE slot_name = 'bench_raw'`,
    );
    await db.query(`SELECT pg_create_logical_replication_slot('bench_raw', 'pgoutput')`);

    const ids = Array.from({ length: rows }, (_, i) => `ing_${i}`);
    for (let done = 0; done < updates; done += 1000) {
      const batch = Array.from({ length: Math.min(1000, updates - done) }, (_, k) => ids[(done + k) % rows]!);
      await db.query(
        `UPDATE "TaskRun" SET "updatedAt" = now(), "usageDurationMs" = "usageDurationMs" + 1 WHERE id = ANY($1)`,
        [batch],
      );
    }
    const end = (await db.query<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0]!.lsn;

    // Raw: pg_recvlogical from its own slot to /dev/null, up to the end LSN.
    const bin = recvlogicalBin();
    const t0 = performance.now();
    await new Promise<void>((res, rej) => {
      const p = spawn(
        bin,
        [
          "-d",
          databaseUrl,
          "-S",
          "bench_raw",
          "--start",
          "-o",
          "proto_version=1",
          "-o",
          `publication_names=electric_publication_${streamId}`,
          "-E",
          end,
          "-f",
          "/dev/null",
          "--no-loop",
        ],
        { stdio: ["ignore", "ignore", "inherit"] },
      );
      p.once("exit", (code) => (code === 0 ? res() : rej(new Error(`pg_recvlogical exited ${code}`))));
    });
    const raw = updates / ((performance.now() - t0) / 1000);
    await db.query(`SELECT pg_drop_replication_slot('bench_raw')`);

    // Ours: restart the server; it streams the backlog from its slot.
    // Timed from the moment replication is running (startup and shape recovery are measured in (4)).
    server = await startShapeServer({
      databaseUrl,
      storageDir,
      port: 0,
      replicationStreamId: streamId,
      logLevel: "warn",
    });
    await server.ready;
    const session = process.env.BENCH_PROFILE ? new Session() : undefined;
    const post = (method: string, params?: object) =>
      new Promise<any>((res, rej) => session!.post(method, params ?? {}, (e, r) => (e ? rej(e) : res(r))));
    if (session) {
      session.connect();
      await post("Profiler.enable");
      await post("Profiler.start");
    }
    const tStart = performance.now();
    const cpu0 = process.cpuUsage();
    const reg = server.registry()!;
    const startCount = reg.router.changesApplied;
    await waitFor(() => reg.router.changesApplied >= updates, 600_000, "ingest to finish", 2);
    const applied = reg.router.changesApplied - startCount;
    const ours = applied / ((performance.now() - tStart) / 1000);
    const cpu = process.cpuUsage(cpu0);
    const cpuPerChange = (cpu.user + cpu.system) / applied;
    if (session) {
      const { profile } = await post("Profiler.stop");
      writeFileSync(process.env.BENCH_PROFILE!, JSON.stringify(profile));
      session.disconnect();
    }
    await server.stop();
    await db.query(
      `SELECT pg_drop_replication_slot('electric_slot_${streamId}') FROM pg_replication_slots WHERE slot_name = 'electric_slot_${streamId}' AND NOT active`,
    );
    return { updates, ours, raw, rawBin: bin, cpuPerChange };
  } finally {
    await db.end();
    rmSync(storageDir, { recursive: true, force: true });
  }
}
