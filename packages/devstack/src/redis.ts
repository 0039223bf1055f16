/** A throwaway redis-server on a free port, for `pnpm start` and tests when REDIS_URL is not given. */
import { spawn, type ChildProcess } from "node:child_process";
import { createConnection } from "node:net";
import getPort from "get-port";
import { StartError } from "./errors.js";
import { REDIS_SERVER, ensureProgram } from "./prerequisites.js";

export interface RunningRedis {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts redis-server (installed first when missing and we may: prerequisites.ts). `log` receives
 * what happens on the way (an installation's progress).
 */
export async function startRedisServer(
  options: { port?: number; log?: (message: string) => void } = {},
): Promise<RunningRedis> {
  const executable = await ensureProgram(REDIS_SERVER, {
    log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
  });
  const port = options.port ?? (await freePort(63790));
  const child: ChildProcess = spawn(
    executable,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "warning"],
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  // Quiet once it runs; until then its last line says why it stopped, if it does.
  let lastLine = "";
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.on("data", (chunk: Buffer) => {
      lastLine = chunk.toString("utf8").trim().split("\n").at(-1) ?? lastLine;
    });
  }
  const exited = new Promise<never>((_, reject) => {
    const fail = (why: string) =>
      reject(new StartError(`redis-server did not start on port ${port}: ${lastLine.replace(/^.*# /, "") || why}`));
    child.once("error", (error) => fail(error.message));
    child.once("exit", (code, signal) => fail(`exited with ${code ?? signal}`));
  });
  exited.catch(() => {});
  try {
    await Promise.race([waitForPort(port, 10_000), exited]);
  } catch (error) {
    child.kill("SIGKILL");
    throw error instanceof StartError
      ? error
      : new StartError(`redis-server did not start: ${(error as Error).message}`);
  }
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
