/**
 * The README's start command as a user runs it: `pnpm start` on embedded defaults (its own
 * Postgres, redis-server, shape server, the webapp's production build), then the dashboard in
 * Chromium with the sign-in it printed (runs, a run, API keys, Realtime: not one console error or
 * failed request), then Ctrl-C: everything stops and the command exits 0 without an error line.
 * And what a user sees when something is missing or broken: one line naming the cause.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, mkdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BrowserProblems, launchChromium } from "../src/browser.js";
import { ROOT } from "../src/builds.js";
import { freePort, waitForPort } from "../src/redis.js";

interface Command {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

/** Runs a command in its own process group (as a terminal runs the foreground job), output collected. */
function run(command: string, args: string[], env: Record<string, string | undefined>): Command {
  const childEnv: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1", ...env };
  for (const name of ["FORCE_COLOR", "NODE_ENV", "DATABASE_URL", "REDIS_URL", "ELECTRIC_ORIGIN"]) {
    if (!(name in env)) delete childEnv[name];
  }
  const child = spawn(command, args, { cwd: ROOT, env: childEnv, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (chunk) => (output += chunk));
  child.stderr!.on("data", (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

/** Resolves once `text` appears in the command's output; rejects if it exits first or after `timeoutMs`. */
async function waitForOutput(command: Command, text: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void command.exited.then(() => (exited = true));
  while (!command.output().includes(text)) {
    if (exited) throw new Error(`the command exited before printing "${text}":\n${command.output()}`);
    if (Date.now() > deadline) throw new Error(`no "${text}" after ${timeoutMs} ms:\n${command.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const linesOf = (output: string, pattern: RegExp) => output.split("\n").filter((line) => pattern.test(line));
const STACK_FRAME = /^\s+at .+:\d+/;

describe("pnpm start", () => {
  let dataDir: string;
  let start: Command;
  let browser: Browser | undefined;
  const ports = { webapp: 0, shapes: 0 };

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "runfeed-start-"));
    // Open to the postgres OS user, so the cluster stays here (postgres.integration.test.ts covers a closed folder).
    await chmod(dataDir, 0o755);
    ports.webapp = await freePort();
    ports.shapes = await freePort();
    start = run("pnpm", ["start"], {
      RUNFEED_DATA_DIR: dataDir,
      PORT: String(ports.webapp),
      ELECTRIC_PORT: String(ports.shapes),
      EMBEDDED_POSTGRES_PORT: String(await freePort()),
    });
    await waitForOutput(start, "Ctrl-C stops everything.", 150_000);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    if (start && start.child.exitCode === null) {
      process.kill(-start.child.pid!, "SIGINT");
      await start.exited;
    }
    await rm(dataDir, { recursive: true, force: true });
  }, 60_000);

  it("prints the webapp URL, the shape server URL, the demo key and the sign-in", () => {
    const output = start.output();
    expect(output).toContain(`Webapp (dashboard + API)   http://127.0.0.1:${ports.webapp}`);
    expect(output).toContain(`Shape server (Electric)    http://127.0.0.1:${ports.shapes}`);
    expect(output).toMatch(/Demo dev secret key {8}tr_dev_[0-9a-zA-Z]{24}/);
    expect(output).toMatch(/Dashboard sign-in {10}demo@runfeed\.dev \/ \S+/);
  });

  it("serves the webapp's production build", async () => {
    const html = await fetch(`http://127.0.0.1:${ports.webapp}/login`).then((r) => r.text());
    expect(html).toMatch(/"\/assets\/entry\.client-[\w-]{8}\.js"/);
    expect(html).not.toContain("/@vite/client");
    expect(start.output()).toContain("starting the webapp (production build)");
  });

  it("shows the dashboard in Chromium without a console error: runs, a run, API keys, Realtime", {
    timeout: 90_000,
  }, async () => {
    const [, email, password] = /Dashboard sign-in {10}(\S+) \/ (\S+)/.exec(start.output())!;
    browser = await launchChromium();
    const problems = new BrowserProblems();
    const page = await problems.newPage(browser);
    const visited: string[] = [];

    await page.goto(`http://127.0.0.1:${ports.webapp}/`);
    await page.waitForURL(/\/login/);
    await page.fill('input[name="email"]', email!);
    await page.fill('input[name="password"]', password!);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/env\/dev\/runs$/);
    await page.waitForSelector('[data-live-state="live"]');
    // The demo CSV import started by `pnpm start` fills the table.
    await page.waitForSelector('tr[data-run-id] .task-name:text-matches("^csv-import")', { timeout: 30_000 });
    visited.push(new URL(page.url()).pathname);

    await page.click("tr[data-run-id] a.run-link >> nth=0");
    await page.waitForURL(/\/runs\/run_/);
    await page.waitForSelector(".run-summary");
    await page.waitForSelector('[data-live-state="live"]');
    visited.push(new URL(page.url()).pathname);

    const base = page.url().replace(/\/runs\/.*$/, "");
    await page.click(`a[href$="/apikeys"]`);
    await page.waitForURL(`${base}/apikeys`);
    await page.waitForSelector('[data-testid="root-key"]');
    visited.push(new URL(page.url()).pathname);

    await page.click(`a[href$="/realtime"]`);
    await page.waitForURL(`${base}/realtime`);
    await expect.poll(() => page.textContent(".health")).toBe("active");
    visited.push(new URL(page.url()).pathname);

    expect(visited).toEqual([
      "/orgs/demo/projects/demo/env/dev/runs",
      expect.stringMatching(/^\/orgs\/demo\/projects\/demo\/env\/dev\/runs\/run_\w+$/),
      "/orgs/demo/projects/demo/env/dev/apikeys",
      "/orgs/demo/projects/demo/env/dev/realtime",
    ]);
    expect(problems.take()).toEqual([]);
    await page.close();
  });

  it("stops everything on Ctrl-C and exits 0 without an error line", { timeout: 60_000 }, async () => {
    const before = start.output().length;
    // A terminal's Ctrl-C: SIGINT to the whole foreground process group (pnpm and the start command).
    process.kill(-start.child.pid!, "SIGINT");
    expect(await start.exited).toBe(0);
    const tail = start.output().slice(before);
    expect(tail).toContain("[start] stopped");
    expect(linesOf(tail, /ELIFECYCLE|ERR_|Error|failed/)).toEqual([]);
    // Nothing it started still listens.
    await expect(waitForPort(ports.webapp, 300)).rejects.toThrow();
    await expect(waitForPort(ports.shapes, 300)).rejects.toThrow();
  });
});

describe("a start that cannot succeed is one line naming the cause", () => {
  const startCommand = ["--import", "tsx", "packages/devstack/src/start.ts"];

  it("redis-server missing, no apt-get: names the command that installs it", { timeout: 60_000 }, async () => {
    // A PATH with node and nothing else: no redis-server, no apt-get.
    const bin = await mkdtemp(path.join(tmpdir(), "runfeed-path-"));
    await symlink(process.execPath, path.join(bin, "node"));
    try {
      const command = run(process.execPath, startCommand, { PATH: bin });
      expect(await command.exited).toBe(1);
      const output = command.output();
      expect(linesOf(output, /failed:/)).toEqual([
        expect.stringMatching(
          /^\[start\] failed: redis-server is not installed and there is no apt-get here: .*`(sudo )?apt-get install -y redis-server`.*REDIS_URL/,
        ),
      ]);
      expect(linesOf(output, STACK_FRAME)).toEqual([]);
      expect(output).not.toContain("starting embedded Postgres");
    } finally {
      await rm(bin, { recursive: true, force: true });
    }
  });

  it("Postgres refuses its data directory: Postgres's own reason", { timeout: 60_000 }, async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "runfeed-start-"));
    await chmod(dataDir, 0o755);
    // A cluster directory with its version file and nothing else.
    await mkdir(path.join(dataDir, "postgres"));
    await writeFile(path.join(dataDir, "postgres", "PG_VERSION"), "17\n");
    try {
      const command = run(process.execPath, startCommand, {
        RUNFEED_DATA_DIR: dataDir,
        PORT: String(await freePort()),
      });
      expect(await command.exited).toBe(1);
      const output = command.output();
      expect(linesOf(output, /failed:/)).toEqual([
        expect.stringMatching(
          /^\[start\] failed: Embedded Postgres did not start on port \d+ \(exit \d\): postgres: could not access the server configuration file ".*postgresql\.conf": No such file or directory$/,
        ),
      ]);
      expect(linesOf(output, STACK_FRAME)).toEqual([]);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it("an invalid variable: names it", { timeout: 30_000 }, async () => {
    const command = run(process.execPath, startCommand, { PORT: "seventy" });
    expect(await command.exited).toBe(1);
    expect(linesOf(command.output(), /failed:/)).toEqual([
      "[start] failed: Invalid environment: PORT: Invalid input: expected number, received NaN",
    ]);
  });
});
