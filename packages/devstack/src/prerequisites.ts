/**
 * Programs runfeed needs from the system that pnpm cannot install: `redis-server` (for `pnpm start`
 * and `pnpm test` unless REDIS_URL is set) and Chromium (for the browser tests). When one is missing
 * and we run as root where apt-get exists (a fresh Debian machine, a container, CI), we install it
 * and say so; otherwise we stop with one line naming the command that installs it.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { StartError } from "./errors.js";

export interface Program {
  /** The executable looked up on the PATH. */
  command: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  /** What else would do instead, said after the install command. */
  alternative?: string;
}

export const REDIS_SERVER: Program = {
  command: "redis-server",
  debianPackage: "redis-server",
  alternative: "or set REDIS_URL to a running Redis",
};
export const CHROMIUM: Program = { command: "chromium", debianPackage: "chromium" };

/** What the decision depends on; the real machine unless a test says otherwise. */
export interface System {
  PATH: string;
  isRoot: boolean;
  /** Runs the installation, printing its progress; resolves with its exit code. */
  install(program: Program, log: (line: string) => void): Promise<number>;
}

export const thisSystem = (): System => ({
  PATH: process.env.PATH ?? "",
  isRoot: process.getuid?.() === 0,
  install: aptGetInstall,
});

/** The program's path on `PATH`, if any. */
export function findExecutable(command: string, PATH: string): string | undefined {
  for (const dir of PATH.split(path.delimiter).filter(Boolean)) {
    const file = path.join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * The program's path. Missing: installed with apt-get when we are root and apt-get exists (progress
 * printed through `log`), else a StartError whose one line names the command to run.
 */
export async function ensureProgram(
  program: Program,
  options: { log: (line: string) => void; system?: System },
): Promise<string> {
  const system = options.system ?? thisSystem();
  const found = findExecutable(program.command, system.PATH);
  if (found) return found;
  const aptGet = findExecutable("apt-get", system.PATH) !== undefined;
  if (!system.isRoot || !aptGet) throw new StartError(missingMessage(program, { aptGet, isRoot: system.isRoot }));

  const command = installCommand(program, true);
  options.log(`${program.command} is not installed; installing it as root: ${command}`);
  const code = await system.install(program, options.log);
  const installed = findExecutable(program.command, system.PATH);
  if (code !== 0 || !installed) {
    throw new StartError(
      `${program.command} is still not installed (${code !== 0 ? `apt-get exited with ${code}` : "not on the PATH after apt-get"}); run \`${command}\` and try again`,
    );
  }
  options.log(`installed ${program.command} (${installed})`);
  return installed;
}

export function installCommand(program: Program, isRoot: boolean): string {
  return `${isRoot ? "" : "sudo "}apt-get install -y ${program.debianPackage}`;
}

function missingMessage(program: Program, how: { aptGet: boolean; isRoot: boolean }): string {
  const alternative = program.alternative ? ` (${program.alternative})` : "";
  if (how.aptGet) {
    return `${program.command} is not installed: run \`${installCommand(program, how.isRoot)}\`${alternative}`;
  }
  return `${program.command} is not installed and there is no apt-get here: install the package that provides \`${program.command}\` (Debian/Ubuntu: \`${installCommand(program, how.isRoot)}\`)${alternative}`;
}

/**
 * `apt-get update && apt-get install -y <package>`, its output prefixed. Under `flock`, so parallel
 * callers (two browser test files) install once: the second finds the program when its turn comes.
 */
function aptGetInstall(program: Program, log: (line: string) => void): Promise<number> {
  const script = `command -v "$1" >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q "$2"; }`;
  const args = ["-c", script, "sh", program.command, program.debianPackage];
  const flock = findExecutable("flock", process.env.PATH ?? "");
  const [command, commandArgs] = flock
    ? [flock, [path.join(tmpdir(), "runfeed-install.lock"), "/bin/sh", ...args]]
    : ["/bin/sh", args];
  return new Promise((resolve) => {
    const child = spawn(command, commandArgs, {
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => log(`  [apt-get] ${line}`));
    }
    child.once("error", () => resolve(127));
    child.once("close", (code) => resolve(code ?? 1));
  });
}
