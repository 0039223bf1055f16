/**
 * `pnpm bench` (bench/run.ts) lists every benchmark and refuses unknown names, and every benchmark
 * ends with its JSON line through bench/report.ts under its own name. (Running the benchmarks
 * themselves is too slow for the test suite; bench/README.md says how to run them.)
 */
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { BenchReport, round } from "../../../bench/report.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const BENCHMARKS = readdirSync(path.join(ROOT, "bench"), { withFileTypes: true })
  .filter((e) => e.isDirectory() && existsSync(path.join(ROOT, "bench", e.name, "run.ts")))
  .map((e) => e.name);

const runner = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", "bench/run.ts", ...args], { cwd: ROOT, encoding: "utf8" });

describe("pnpm bench", () => {
  it("lists every benchmark with what it measures", () => {
    const { status, stdout } = runner();
    expect(status).toBe(0);
    expect(BENCHMARKS.sort()).toEqual([
      "dashboard",
      "realtime",
      "realtime-backends",
      "run-lifecycle",
      "shape-sync",
      "streams",
      "write-api",
      "write-pipeline",
    ]);
    for (const name of BENCHMARKS) expect(stdout).toMatch(new RegExp(`^  ${name} +\\S.{20,}$`, "m"));
  });

  it("refuses an unknown benchmark, naming the ones there are", () => {
    const { status, stderr } = runner("no-such-bench");
    expect(status).toBe(2);
    expect(stderr.trim()).toBe(`No benchmark "no-such-bench". Benchmarks: ${BENCHMARKS.join(", ")}`);
  });

  it("every benchmark reports under its own name and prints the JSON line", () => {
    for (const name of BENCHMARKS) {
      const source = readFileSync(path.join(ROOT, "bench", name, "run.ts"), "utf8");
      expect(source, name).toContain(`new BenchReport("${name}")`);
      // It prints the report itself, or returns it to bench/support.ts's runBench, which prints it last.
      expect(source, name).toMatch(/report\??\.print\(\)|runBench\(/);
    }
  });

  it("the JSON line holds the figures as printed", () => {
    const report = new BenchReport("example");
    report.add("ingest", { ours: round(41_234.4), ratio: round(0.5678, 2), p99: round(Number.NaN, 1) });
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: string) => written.push(chunk)) as typeof process.stdout.write;
    try {
      report.print();
    } finally {
      process.stdout.write = write;
    }
    expect(written).toEqual(['{"bench":"example","figures":{"ingest":{"ours":41234,"ratio":0.57,"p99":null}}}\n']);
  });
});
