/** Child processes of the start command: prefixed output, readiness by HTTP, clean stop. */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  stop(): Promise<void>;
}

const COLOURS: Record<string, string> = { "shape-sync": "35", webapp: "36", seed: "33", worker: "32" };

/** `text` in an ANSI style when printing to a terminal that wants colour, else plain. */
export function style(code: string | undefined, text: string): string {
  const colour = code && process.stdout.isTTY && !process.env.NO_COLOR;
  return colour ? `\x1b[${code}m${text}\x1b[0m` : text;
}

export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string | undefined>; onExit?: (code: number | null) => void },
): ManagedProcess {
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
    // Own process group: Ctrl-C reaches only the start command, which stops children in order.
    detached: true,
  });
  const prefix = `${style(COLOURS[name], `[${name}]`)} `;
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream! }).on("line", (line) => process.stdout.write(prefix + line + "\n"));
  }
  child.once("exit", (code) => options.onExit?.(code));
  return {
    name,
    child,
    stop: () => stopChild(child),
  };
}

/** Sends `signal` (SIGTERM unless given) and resolves once the child has exited; SIGKILL after `graceMs`. */
export function stopChild(
  child: ChildProcess,
  options: { signal?: NodeJS.Signals; graceMs?: number } = {},
): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const force = setTimeout(() => child.kill("SIGKILL"), options.graceMs ?? 10_000);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(options.signal ?? "SIGTERM");
  });
}

/** Polls `url` until it answers 2xx (and `accept(body)` holds), or throws after `timeoutMs`. */
export async function waitForHttp(
  url: string,
  timeoutMs: number,
  accept: (body: string) => boolean = () => true,
  isAlive: () => boolean = () => true,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`process serving ${url} exited`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      const body = await response.text();
      if (response.ok && accept(body)) return;
      last = `${response.status} ${body.slice(0, 200)}`;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (last: ${last})`);
}

/** Runs a command to completion and returns its stdout; a failure names the last line it wrote to stderr. */
export function runToCompletion(
  command: string,
  args: string[],
  options: { cwd: string; env: Record<string, string | undefined> },
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout!.on("data", (chunk) => (out += chunk));
    child.stderr!.on("data", (chunk) => (err += chunk));
    child.once("close", (code) => {
      if (code === 0) return resolve(out);
      const cause = err.trim().split("\n").at(-1);
      const what = path.basename(args.find((a) => a.endsWith(".ts")) ?? command);
      reject(new Error(`${what} exited with ${code}${cause ? `: ${cause}` : ""}`));
    });
  });
}

/** CPU seconds (user + system) a process has used so far, from Linux's /proc; NaN where that is missing. */
export function cpuSeconds(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}
