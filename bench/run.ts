/**
 * `pnpm bench` lists the benchmarks; `pnpm bench <name> [options]` runs bench/<name>/run.ts with the
 * options passed on. A benchmark is a folder here with a run.ts; the first line of its header comment
 * describes it.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));

const benchmarks = readdirSync(HERE, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(path.join(HERE, entry.name, "run.ts")))
  .map((entry) => ({ name: entry.name, summary: summaryOf(path.join(HERE, entry.name, "run.ts")) }))
  .sort((a, b) => a.name.localeCompare(b.name));

/** The first line of a file's leading `/** … *\/` comment. */
function summaryOf(file: string): string {
  const header = /^\/\*\*\s*\n?\s*\*?\s*(.+)/.exec(readFileSync(file, "utf8"));
  return header?.[1]?.trim() ?? "";
}

const [name, ...options] = process.argv.slice(2);
if (!name || name === "--help" || name === "-h") {
  console.log("Benchmarks (pnpm bench <name> [options]; the options are at the top of each bench/<name>/run.ts):\n");
  const width = Math.max(...benchmarks.map((b) => b.name.length));
  for (const b of benchmarks) console.log(`  ${b.name.padEnd(width)}  ${b.summary}`);
  console.log(
    "\nEach prints its figures beside a raw limit measured in the same run, then one JSON line (bench/README.md).",
  );
} else if (!benchmarks.some((b) => b.name === name)) {
  console.error(`No benchmark "${name}". Benchmarks: ${benchmarks.map((b) => b.name).join(", ")}`);
  process.exit(2);
} else {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(HERE, name, "run.ts"), ...options], {
    stdio: "inherit",
  });
  // The terminal's Ctrl-C reaches the benchmark too (same process group); it cleans up and exits.
  process.on("SIGINT", () => {});
  child.once("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
