/** A throwaway redis-server on a free port, for `pnpm start` and tests when REDIS_URL is not given. */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createConnection } from "node:net";
import getPort from "get-port";

export interface RunningRedis {
  url: string;
  stop(): Promise<void>;
}

export class RedisNotFoundError extends Error {
  override name = "RedisNotFoundError";
  constructor() {
    super(
      "No Redis: REDIS_URL is not set and `redis-server` is not on the PATH. " +
        "Install it (Debian/Ubuntu: `apt-get install redis-server`, macOS: `brew install redis`) or set REDIS_URL=redis://host:6379.",
    );
  }
}

export function hasRedisServer(): boolean {
  return spawnSync("redis-server", ["--version"], { stdio: "ignore" }).status === 0;
}

export async function startRedisServer(options: { port?: number } = {}): Promise<RunningRedis> {
  if (!hasRedisServer()) throw new RedisNotFoundError();
  const port = options.port ?? (await freePort(63790));
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"],
    { stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  await waitForPort(port, 10_000);
  return {
    url: `redis://127.0.0.1:${port}`,
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
