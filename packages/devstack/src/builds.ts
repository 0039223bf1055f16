/**
 * What the start command and the tests run is built before they run: the Prisma client, the shape
 * server's `dist/main.js` (docs/decisions/032-shape-sync-built-not-tsx.md) and the webapp's
 * production bundle (docs/decisions/006-production-start.md). Each is (re)built by its package's
 * `build` script when missing or older than any of its sources, and left alone otherwise (no files
 * rewritten under processes that are using them).
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { StartError } from "./errors.js";

export const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export interface Build {
  /** The workspace package whose `build` script makes it. */
  packageName: string;
  /** The file whose age is compared with the sources'. */
  output: string;
  /** Files and folders (walked, `generated` folders skipped) it is built from. */
  sources: string[];
  /** Passed to the build script by ensureBuilt (to make it print its progress). */
  progressArgs?: string[];
}

const fromRoot = (...parts: string[]) => path.join(ROOT, ...parts);

/** `prisma generate` (the package's build script) writes the client into packages/database/src/generated. */
export const PRISMA_CLIENT_BUILD: Build = {
  packageName: "@runfeed/database",
  output: fromRoot("packages/database/src/generated/client.ts"),
  sources: [
    fromRoot("prisma/schema.prisma"),
    fromRoot("packages/database/prisma.config.ts"),
    fromRoot("pnpm-lock.yaml"),
  ],
};

export const SHAPE_SYNC_BUILD: Build = {
  packageName: "@runfeed/shape-sync",
  output: fromRoot("apps/shape-sync/dist/main.js"),
  sources: [fromRoot("apps/shape-sync/src"), fromRoot("apps/shape-sync/tsup.config.ts"), fromRoot("packages/core/src")],
};

export const WEBAPP_BUILD: Build = {
  packageName: "@runfeed/webapp",
  output: fromRoot("apps/webapp/build/server/index.js"),
  progressArgs: ["--logLevel", "info"],
  sources: [
    fromRoot("apps/webapp/app"),
    fromRoot("apps/webapp/vite.config.ts"),
    fromRoot("apps/webapp/package.json"),
    fromRoot("packages/core/src"),
    fromRoot("packages/sdk/src"),
    fromRoot("packages/react-hooks/src"),
    fromRoot("packages/database/src"),
    fromRoot("prisma/schema.prisma"),
    fromRoot("pnpm-lock.yaml"),
  ],
};

/** Why `build` must run, or undefined when its output is newer than every source. */
export function staleness(build: Build): string | undefined {
  if (!existsSync(build.output)) return `${path.relative(ROOT, build.output)} is missing`;
  const built = statSync(build.output).mtimeMs;
  const newer = build.sources.find((source) => newestMtime(source) > built);
  return newer ? `${path.relative(ROOT, newer)} changed since the last build` : undefined;
}

function newestMtime(file: string): number {
  if (!existsSync(file)) return 0;
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(file, { withFileTypes: true })) {
    if (entry.isDirectory() && (entry.name === "generated" || entry.name === "node_modules")) continue;
    newest = Math.max(newest, newestMtime(path.join(file, entry.name)));
  }
  return newest;
}

/**
 * Builds synchronously when stale (saying why through `log` when given), the build's own output
 * hidden unless it fails. Returns the output file.
 */
export function ensureBuiltSync(build: Build, log?: (line: string) => void): string {
  const reason = staleness(build);
  if (reason) {
    log?.(`building ${build.packageName} (${reason})…`);
    try {
      execFileSync("pnpm", ["--silent", "--filter", build.packageName, "build"], { cwd: ROOT, stdio: "pipe" });
    } catch (error) {
      const output = String((error as { stderr?: Buffer }).stderr ?? "").trim();
      throw new StartError(`building ${build.packageName} failed: ${output.split("\n").at(-1) ?? "no output"}`);
    }
  }
  return build.output;
}

/**
 * Builds when stale, printing why and the build's progress lines through `log` (a bundler's per-file
 * listing left out); on failure its last lines are printed and a StartError thrown.
 */
export async function ensureBuilt(build: Build, log: (line: string) => void): Promise<string> {
  const reason = staleness(build);
  if (!reason) return build.output;
  log(`building ${build.packageName} (${reason})…`);
  const started = Date.now();
  const lines: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn("pnpm", ["--silent", "--filter", build.packageName, "build", ...(build.progressArgs ?? [])], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => {
        lines.push(line);
        if (/building|modules transformed|built in/i.test(line)) log(`  ${line.trim()}`);
      });
    }
    child.once("error", () => resolve(null));
    child.once("close", resolve);
  });
  if (code !== 0) {
    for (const line of lines.slice(-15)) log(`  ${line}`);
    throw new StartError(`building ${build.packageName} failed (exit ${code}); its output is above`);
  }
  log(`built ${build.packageName} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return build.output;
}
