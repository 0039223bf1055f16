/**
 * What a command does when a program it needs is missing (prerequisites.ts): installs it as root
 * where apt-get exists and says so, otherwise stops with one line naming the command to run. The
 * machine is simulated: a PATH of our own making, root or not, an installer that records its call.
 */
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { CHROMIUM, REDIS_SERVER, StartError, ensureProgram, type Program, type System } from "../src/index.js";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A folder of executables named `names` (shell scripts that exit 0). */
function binDir(...names: string[]): string {
  const dir = mkdtempSync(path.join(tmpdir(), "runfeed-prereq-"));
  dirs.push(dir);
  for (const name of names) addExecutable(dir, name);
  return dir;
}

function addExecutable(dir: string, name: string) {
  writeFileSync(path.join(dir, name), "#!/bin/sh\nexit 0\n");
  chmodSync(path.join(dir, name), 0o755);
}

/** A system whose installer records what it was asked and, when `works`, puts the program on the PATH. */
function system(options: { PATH: string; isRoot: boolean; works?: boolean; exitCode?: number }) {
  const installed: string[] = [];
  const sys: System = {
    PATH: options.PATH,
    isRoot: options.isRoot,
    async install(program: Program, log) {
      installed.push(program.debianPackage);
      log("  [apt-get] Setting up …");
      if (options.works !== false) addExecutable(options.PATH.split(path.delimiter)[0]!, program.command);
      return options.exitCode ?? 0;
    },
  };
  return { sys, installed };
}

describe("ensureProgram", () => {
  it("returns the program's path when it is on the PATH, installing nothing", async () => {
    const dir = binDir("redis-server", "apt-get");
    const { sys, installed } = system({ PATH: dir, isRoot: true });
    await expect(ensureProgram(REDIS_SERVER, { log: () => {}, system: sys })).resolves.toBe(
      path.join(dir, "redis-server"),
    );
    expect(installed).toEqual([]);
  });

  it("as root with apt-get: installs the Debian package and says so", async () => {
    const dir = binDir("apt-get");
    const { sys, installed } = system({ PATH: dir, isRoot: true });
    const lines: string[] = [];
    const found = await ensureProgram(CHROMIUM, { log: (l) => lines.push(l), system: sys });
    expect(found).toBe(path.join(dir, "chromium"));
    expect(installed).toEqual(["chromium"]);
    expect(lines[0]).toBe("chromium is not installed; installing it as root: apt-get install -y chromium");
    expect(lines.at(-1)).toBe(`installed chromium (${found})`);
  });

  it("as root with apt-get, an installation that fails is one line naming the command", async () => {
    const dir = binDir("apt-get");
    const { sys } = system({ PATH: dir, isRoot: true, works: false, exitCode: 100 });
    await expect(ensureProgram(REDIS_SERVER, { log: () => {}, system: sys })).rejects.toThrow(
      new StartError(
        "redis-server is still not installed (apt-get exited with 100); run `apt-get install -y redis-server` and try again",
      ),
    );
  });

  it("not root: one line with the sudo command, and nothing installed", async () => {
    const { sys, installed } = system({ PATH: binDir("apt-get"), isRoot: false });
    const error = await ensureProgram(REDIS_SERVER, { log: () => {}, system: sys }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(StartError);
    expect((error as Error).message).toBe(
      "redis-server is not installed: run `sudo apt-get install -y redis-server` (or set REDIS_URL to a running Redis)",
    );
    expect(installed).toEqual([]);
  });

  it("root without apt-get: one line naming the package, nothing installed", async () => {
    const { sys, installed } = system({ PATH: binDir(), isRoot: true });
    await expect(ensureProgram(CHROMIUM, { log: () => {}, system: sys })).rejects.toThrow(
      "chromium is not installed and there is no apt-get here: install the package that provides `chromium` (Debian/Ubuntu: `apt-get install -y chromium`)",
    );
    expect(installed).toEqual([]);
  });

  it("finds programs through symbolic links and skips folders without them", async () => {
    const real = binDir("redis-server");
    const linked = binDir();
    symlinkSync(path.join(real, "redis-server"), path.join(linked, "redis-server"));
    const { sys } = system({ PATH: [binDir(), linked].join(path.delimiter), isRoot: false });
    await expect(ensureProgram(REDIS_SERVER, { log: () => {}, system: sys })).resolves.toBe(
      path.join(linked, "redis-server"),
    );
  });
});
