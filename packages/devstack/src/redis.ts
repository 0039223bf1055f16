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
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const executable = await ensureProgram(REDIS_SERVER, { log });
  let port = options.port ?? (await freePort(63790));
  // A port found free can be taken before redis-server binds it (another start on this machine):
  // then another free one, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await spawnRedis(executable, port);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt === 3) throw error;
      const taken = port;
      port = await freePort();
      log(`port ${taken} was taken before redis-server could bind it; trying ${port}`);
    }
  }
}

class PortTakenError extends StartError {}

async function spawnRedis(executable: string, port: number): Promise<RunningRedis> {
  const child: ChildProcess = spawn(
    executable,
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "notice"],
    { stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
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
