/**
 * The configuration is documented in three places that must agree with the zod schemas that parse
 * it: .env.example, the README's configuration table and docker-compose.yml.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const read = (path: string) => readFileSync(`${ROOT}/${path}`, "utf8");

/** Top-level keys of the `z.object({ … })` that follows `marker` in a schema module. */
function schemaKeys(path: string, marker: string): string[] {
  const source = read(path);
  const start = source.indexOf(marker);
  expect(start, `${marker} in ${path}`).toBeGreaterThan(-1);
  const body = source.slice(start, source.indexOf("\n});", start));
  return [...body.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
}

const SCHEMAS = {
  start: schemaKeys("packages/devstack/src/env.ts", "StartEnvSchema = z.object({"),
  webapp: schemaKeys("apps/webapp/app/env.server.ts", "EnvSchema = z.object({"),
  shapeSync: schemaKeys("apps/shape-sync/src/env.ts", "EnvSchema = z.object({"),
};
const ALL = new Set([...SCHEMAS.start, ...SCHEMAS.webapp, ...SCHEMAS.shapeSync]);

describe("configuration documentation", () => {
  it("each schema declares variables", () => {
    for (const keys of Object.values(SCHEMAS)) expect(keys.length).toBeGreaterThan(3);
  });

  it(".env.example lists exactly the variables the schemas parse", () => {
    const documented = new Set([...read(".env.example").matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!));
    expect([...documented].sort()).toEqual([...ALL].sort());
  });

  it("the README's configuration table lists exactly the same variables", () => {
    const readme = read("README.md");
    const table = readme.slice(
      readme.indexOf("<!-- config-table:start -->"),
      readme.indexOf("<!-- config-table:end -->"),
    );
    const rows = new Set([...table.matchAll(/^\| `([A-Z][A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
    expect([...rows].sort()).toEqual([...ALL].sort());
  });

  it("docker-compose.yml only sets variables its services parse", () => {
    const compose = parseYaml(read("docker-compose.yml")) as {
      services: Record<string, { environment?: Record<string, string> }>;
    };
    const keysOf = (service: string) => Object.keys(compose.services[service]?.environment ?? {});
    expect(keysOf("webapp").filter((k) => !SCHEMAS.webapp.includes(k))).toEqual([]);
    expect(keysOf("shape-sync").filter((k) => !SCHEMAS.shapeSync.includes(k))).toEqual([]);
    // The real Electric service takes the same names our shape server does.
    expect(keysOf("electric").filter((k) => !SCHEMAS.shapeSync.includes(k))).toEqual([]);
    expect(compose.services.webapp?.environment?.ELECTRIC_ORIGIN).toBe("http://electric:3000");
  });
});
