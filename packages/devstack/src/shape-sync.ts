/**
 * apps/shape-sync as a child process, exactly as the start command runs it (`node
 * apps/shape-sync/dist/main.js`, built on first use), for tests and benchmarks that need a real
 * shape server: a fresh storage folder and stream id, ready once `/v1/health` says active, stopped
 * with SIGTERM.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, SHAPE_SYNC_BUILD, ensureBuiltSync } from "./builds.js";
import { stopChild, waitForHttp } from "./processes.js";
import { freePort } from "./redis.js";

/**
 * The built shape server's entry file, (re)built with its package's `build` script (tsup, well under
 * a second) when missing or older than its sources (ADR 032: no tsx in the running server).
 */
export function shapeSyncEntry(): string {
  return ensureBuiltSync(SHAPE_SYNC_BUILD);
}

export interface ShapeSyncProcess {
  origin: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function spawnShapeSync(options: {
  databaseUrl: string;
  port?: number;
  /** Names the slot and publication; a new one per call unless given. */
  streamId?: string;
  logLevel?: string;
  timeoutMs?: number;
}): Promise<ShapeSyncProcess> {
  const port = options.port ?? (await freePort());
  const storageDir = await mkdtemp(path.join(tmpdir(), "runfeed-shape-sync-"));
  const child = spawn(process.execPath, [shapeSyncEntry()], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      ELECTRIC_PORT: String(port),
      ELECTRIC_INSECURE: "true",
      ELECTRIC_STORAGE_DIR: storageDir,
      ELECTRIC_REPLICATION_STREAM_ID: options.streamId ?? `s_${randomBytes(4).toString("hex")}`,
      LOG_LEVEL: options.logLevel ?? "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const stop = async () => {
    await stopChild(child, { graceMs: 5_000 });
    await rm(storageDir, { recursive: true, force: true });
  };
  const origin = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(
      `${origin}/v1/health`,
      options.timeoutMs ?? 60_000,
      (body) => body.includes('"active"'),
      () => child.exitCode === null,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return { origin, child, stop };
}
