/**
 * The dependency rules of ARCHITECTURE.md: apps never import each other, packages never import apps,
 * and packages/core does no I/O (no node: modules, no process.env). Tests and examples are held to
 * them too: an example uses packages by name only, and a test imports no other unit's `test/` folder
 * or app code (shared harnesses are @runfeed/devstack/fixtures).
 */
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const files = execFileSync("git", ["ls-files", "apps", "packages", "examples"], { cwd: ROOT, encoding: "utf8" })
  .split("\n")
  .filter((f) => /\.(ts|tsx)$/.test(f));
const isTest = (f: string) => f.includes("/test/") || /\.test\.tsx?$/.test(f);
const sources = files.filter((f) => !f.startsWith("examples/") && !isTest(f));
const tests = files.filter((f) => !f.startsWith("examples/") && isTest(f));
const examples = files.filter((f) => f.startsWith("examples/") && !isTest(f));

function importsOf(file: string): string[] {
  const source = readFileSync(`${ROOT}/${file}`, "utf8");
  return [...source.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
}

/** The path an import lands on inside the repository (relative imports), else undefined. */
const resolved = (file: string, specifier: string) =>
  specifier.startsWith(".") ? new URL(specifier, `file:///${file}`).pathname.slice(1) : undefined;

/** The top-level unit (apps/x, packages/x or examples/x) an import lands in, resolving relative paths. */
function target(file: string, specifier: string): string | undefined {
  const path = resolved(file, specifier);
  if (path) {
    const [area, name] = path.split("/");
    return area === "apps" || area === "packages" || area === "examples" ? `${area}/${name}` : undefined;
  }
  if (specifier.startsWith("@runfeed/")) {
    const name = specifier.slice("@runfeed/".length).split("/")[0];
    return name === "webapp" || name === "shape-sync" ? `apps/${name}` : `packages/${name}`;
  }
  return undefined;
}

const unitOf = (file: string) => file.split("/").slice(0, 2).join("/");

describe("import boundaries", () => {
  it("finds the sources, tests and examples", () => {
    expect(sources.length).toBeGreaterThan(50);
    expect(tests.length).toBeGreaterThan(50);
    expect(examples.length).toBeGreaterThan(5);
  });

  it("apps never import another app, packages never import an app", () => {
    const violations: string[] = [];
    for (const file of sources) {
      const own = unitOf(file);
      for (const specifier of importsOf(file)) {
        const to = target(file, specifier);
        if ((to?.startsWith("apps/") && to !== own) || to?.startsWith("examples/"))
          violations.push(`${file} → ${specifier}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("examples use packages by name only: no relative import out of their own folder", () => {
    const violations: string[] = [];
    for (const file of examples) {
      for (const specifier of importsOf(file)) {
        const to = target(file, specifier);
        if (to && to !== unitOf(file) && resolved(file, specifier)) violations.push(`${file} → ${specifier}`);
        if (to?.startsWith("apps/")) violations.push(`${file} → ${specifier}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it("tests import no other unit's test/ folder and no other unit's app code", () => {
    const crossings: string[] = [];
    for (const file of tests) {
      const own = unitOf(file);
      for (const specifier of importsOf(file)) {
        const to = target(file, specifier);
        if (!to || to === own) continue;
        const path = resolved(file, specifier) ?? "";
        if (to.startsWith("apps/") || path.includes("/test/")) crossings.push(`${file} → ${specifier}`);
      }
    }
    expect(crossings).toEqual([]);
  });

  it("packages/core is pure: no node: modules, no process.env", () => {
    const core = sources.filter((f) => f.startsWith("packages/core/src/"));
    expect(core.length).toBeGreaterThan(3);
    const impure = core.filter((f) => {
      const source = readFileSync(`${ROOT}/${f}`, "utf8");
      return /from\s+["']node:/.test(source) || /process\.env/.test(source);
    });
    expect(impure).toEqual([]);
  });
});
