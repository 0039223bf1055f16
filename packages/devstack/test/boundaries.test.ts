/**
 * The dependency rules of ARCHITECTURE.md: apps never import each other, packages never import apps,
 * and packages/core does no I/O (no node: modules, no process.env).
 */
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const sources = execFileSync("git", ["ls-files", "apps", "packages"], { cwd: ROOT, encoding: "utf8" })
  .split("\n")
  .filter((f) => /\.(ts|tsx)$/.test(f) && !f.includes("/test/") && !/\.test\.tsx?$/.test(f));

function importsOf(file: string): string[] {
  const source = readFileSync(`${ROOT}/${file}`, "utf8");
  return [...source.matchAll(/(?:from|import)\s*\(?\s*["']([^"']+)["']/g)].map((m) => m[1]!);
}

/** The top-level unit (apps/x or packages/x) an import lands in, resolving relative paths. */
function target(file: string, specifier: string): string | undefined {
  if (specifier.startsWith(".")) {
    const resolved = new URL(specifier, `file:///${file}`).pathname.slice(1);
    const [area, name] = resolved.split("/");
    return area === "apps" || area === "packages" ? `${area}/${name}` : undefined;
  }
  if (specifier.startsWith("@runfeed/")) {
    const name = specifier.slice("@runfeed/".length).split("/")[0];
    return name === "webapp" || name === "shape-sync" ? `apps/${name}` : `packages/${name}`;
  }
  return undefined;
}

describe("import boundaries", () => {
  it("finds the sources", () => expect(sources.length).toBeGreaterThan(50));

  it("apps never import another app, packages never import an app", () => {
    const violations: string[] = [];
    for (const file of sources) {
      const own = file.split("/").slice(0, 2).join("/");
      for (const specifier of importsOf(file)) {
        const to = target(file, specifier);
        if (to?.startsWith("apps/") && to !== own) violations.push(`${file} → ${specifier}`);
      }
    }
    expect(violations).toEqual([]);
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
