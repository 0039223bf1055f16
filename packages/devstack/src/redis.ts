/**
 * A redis-server on a free port, for `pnpm start` and tests when REDIS_URL is not given. It always
 * runs with the append-only file on (docs/decisions/092-write-pipeline.md: the write pipeline's
 * acknowledged items live in Redis Streams until the drain commits them), in `dir`, fsynced per
 * `appendfsync`. Restarted on the same `dir`, it reloads what it had acknowledged.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import getPort from "get-port";
import { StartError } from "./errors.js";
import { REDIS_SERVER, ensureProgram } from "./prerequisites.js";

export interface RunningRedis {
  url: string;
  port: number;
  /** Where the append-only file lives. */
  dir: string;
  /** The process id (a crash test kills it with SIGKILL). */
  pid: number;
  stop(): Promise<void>;
}

export type AppendFsync = "always" | "everysec" | "no";

export interface RedisServerOptions {
  port?: number;
  /** Directory of the append-only file; a new temporary directory when not given. */
  dir?: string;
  /** fsync policy of the append-only file (default "always": an acknowledged write is on disk). */
  appendfsync?: AppendFsync;
  log?: (message: string) => void;
}

/**
 * Starts redis-server (installed first when missing and we may: prerequisites.ts). `log` receives
 * what happens on the way (an installation's progress).
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RunningRedis> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const executable = await ensureProgram(REDIS_SERVER, { log });
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), "runfeed-redis-")));
  await mkdir(dir, { recursive: true });
  const removeDir = options.dir === undefined;
  const appendfsync = options.appendfsync ?? "always";
  let port = options.port ?? (await freePort(63790));
  // A port found free can be taken before redis-server binds it (another start on this machine):
  // then another free one, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      const redis = await spawnRedis(executable, port, dir, appendfsync);
      if (!removeDir) return redis;
      return { ...redis, stop: () => redis.stop().finally(() => rm(dir, { recursive: true, force: true })) };
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 3) {
        if (removeDir) await rm(dir, { recursive: true, force: true });
        throw error;
      }
      const taken = port;
      port = await freePort();
      log(`port ${taken} was taken before redis-server could bind it; trying ${port}`);
    }
  }
}

class PortTakenError extends StartError {}

async function spawnRedis(
  executable: string,
  port: number,
  dir: string,
  appendfsync: AppendFsync,
): Promise<RunningRedis> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  args.push("--appendonly", "yes", "--appendfsync", appendfsync, "--loglevel", "notice");
  const child: ChildProcess = spawn(executable, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
  // Ready when it says so (a connection to the port could reach someone else's listener); until
  // then its last line says why it stopped, if it does. Later output is read and dropped.
  let lastLine = "";
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (chunk: Buffer) => {
      const text = chunk.toString("utf8");
      lastLine = text.trim().split("\n").at(-1) ?? lastLine;
      if (text.includes("Ready to accept connections")) onReady();
    });
  }
  const exited = new Promise<never>((_, reject) => {
    const fail = (why: string) => {
      const reason = lastLine.replace(/^.*# /, "") || why;
      const Failure = /Address already in use|Failed listening on port/i.test(reason) ? PortTakenError : StartError;
      reject(new Failure(`redis-server did not start on port ${port}: ${reason}`));
    };
    child.once("error", (error) => fail(error.message));
    child.once("exit", (code, signal) => fail(`exited with ${code ?? signal}`));
  });
  exited.catch(() => {});
  try {
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error(`not ready after 10 s: ${lastLine}`)), 10_000).unref(),
    );
    await Promise.race([ready, exited, timeout]);
  } catch (error) {
    child.kill("SIGKILL");
    throw error instanceof StartError
      ? error
      : new StartError(`redis-server did not start: ${(error as Error).message}`);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    pid: child.pid!,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/**
 * A port free on 127.0.0.1, `preferred` when possible. get-port's default check binds 0.0.0.0, which
 * succeeds beside a loopback listener because Node sets SO_REUSEADDR; bind the address we will use.
 */
export const freePort = (preferred?: number) => getPort({ port: preferred, host: "127.0.0.1" });

export async function waitForPort(port: number, timeoutMs: number, host = "127.0.0.1"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host });
      socket.once("connect", () => {
        socket.end();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Nothing listened on ${host}:${port} within ${timeoutMs} ms`);
}
