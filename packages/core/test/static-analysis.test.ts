/**
 * Protocol values are spelled once, in packages/core (style.md rule 1). This test reads every source
 * file of the repository outside packages/core with the TypeScript parser and fails on a string literal
 * (or template or JSX text) that contains a raw protocol value. Import specifiers and comments are not
 * read, so `@electric-sql/client` and prose that names a header are fine.
 *
 * What counts as a protocol value: every value core exports that starts `electric-` or `x-trigger-`,
 * the `subset__` parameters, the control values `must-refetch` and `snapshot-end`, the params
 * `live_sse`, `experimental_live_sse`, `expired_handle`, `cache-buster`, the Trigger.dev API version
 * date and the public-JWT issuer and audience, plus any `x-trigger-…` name at all (a new one belongs in
 * core first). `up-to-date` is left out: it is also an English word and the name of internal events.
 *
 * Tests may spell these values (files under a `test/` folder or named `*.test.ts`): a test stands for
 * the outside world (the unmodified Trigger.dev SDK, the official Electric client, a curl) and checks
 * the bytes on the wire on its own; a test that imported the constant would agree with a wrong one.
 * Everything else (apps, packages, examples, benchmarks) imports the constant from @runfeed/core.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import * as core from "../src/index.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const SCANNED_ROOTS = ["apps", "packages", "examples", "bench", "prisma"];
const SKIPPED_DIRS = new Set(["node_modules", "dist", "build", "generated", ".turbo", ".data", "results"]);
const SOURCE_FILE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;

const coreStrings = Object.values(core).filter((v): v is string => typeof v === "string");
const PROTOCOL_VALUES: ReadonlySet<string> = new Set([
  ...coreStrings.filter((v) => v.startsWith("electric-") || v.startsWith("x-trigger-") || v.startsWith("subset__")),
  core.MUST_REFETCH,
  core.SNAPSHOT_END,
  core.LIVE_SSE_PARAM,
  core.EXPERIMENTAL_LIVE_SSE_PARAM,
  core.EXPIRED_HANDLE_PARAM,
  core.CACHE_BUSTER_PARAM,
  core.TRIGGER_API_VERSION,
  core.JWT_ISSUER,
  core.JWT_AUDIENCE,
]);
/** Any Trigger.dev header name, known to core or not. */
const TRIGGER_HEADER = /x-trigger-[a-z0-9-]*[a-z0-9]/g;

export interface Finding {
  file: string;
  line: number;
  value: string;
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
/** A value counts when it stands as a whole token: not glued to letters, digits, `_` or `-`. */
const VALUE_PATTERNS = [...PROTOCOL_VALUES].map(
  (value) => [value, new RegExp(`(^|[^A-Za-z0-9_-])${escapeRe(value)}($|[^A-Za-z0-9_-])`)] as const,
);

function protocolValuesIn(text: string): string[] {
  const found = new Set<string>();
  for (const [value, pattern] of VALUE_PATTERNS) if (pattern.test(text)) found.add(value);
  for (const m of text.matchAll(TRIGGER_HEADER)) found.add(m[0]);
  return [...found];
}

const isModuleSpecifier = (node: ts.Node) =>
  (ts.isImportDeclaration(node.parent) || ts.isExportDeclaration(node.parent)) && node.parent.moduleSpecifier === node;
const isImportCall = (node: ts.Node) =>
  ts.isCallExpression(node.parent) &&
  (node.parent.expression.kind === ts.SyntaxKind.ImportKeyword ||
    (ts.isIdentifier(node.parent.expression) && node.parent.expression.text === "require"));

/** Raw protocol values in the literals of one source text. */
export function analyzeSource(file: string, text: string): Finding[] {
  const kind = file.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const findings: Finding[] = [];
  const visit = (node: ts.Node) => {
    if (
      (ts.isStringLiteral(node) ||
        ts.isNoSubstitutionTemplateLiteral(node) ||
        ts.isTemplateHead(node) ||
        ts.isTemplateMiddle(node) ||
        ts.isTemplateTail(node) ||
        ts.isJsxText(node)) &&
      !isModuleSpecifier(node) &&
      !isImportCall(node)
    ) {
      const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      for (const value of protocolValuesIn(node.text)) findings.push({ file, line, value });
    }
    node.forEachChild(visit);
  };
  visit(source);
  return findings;
}

const isTestFile = (relative: string) =>
  relative.split("/").includes("test") || /\.test\.(ts|tsx)$/.test(relative) || /\.test-d\.ts$/.test(relative);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith(".") || SKIPPED_DIRS.has(entry.name)) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) sourceFiles(full, out);
    else if (SOURCE_FILE.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(full);
  }
  return out;
}

describe("protocol values are spelled only in packages/core", () => {
  it("the analyzer finds raw values in literals, templates and JSX, and skips imports and comments", () => {
    const text = [
      `import { ShapeStream } from "@electric-sql/client";`,
      `// the electric-handle header and x-trigger-jwt, in a comment`,
      `const a = res.headers.get("electric-handle");`,
      "const b = `x-trigger-branch: ${branch}`;",
      `const c = { "x-trigger-made-up": "1", version: "2025-07-16" };`,
      `const d = ["electric-handle-ish", "x-electric-offset", "snapshot-end"];`,
      `const e = <p>must-refetch</p>;`,
      `const f = await import("./electric-offset.js");`,
    ].join("\n");
    expect(analyzeSource("fixture.tsx", text).map((f) => [f.line, f.value])).toEqual([
      [3, "electric-handle"],
      [4, "x-trigger-branch"],
      [5, "x-trigger-made-up"],
      [5, "2025-07-16"],
      [6, "snapshot-end"],
      [7, "must-refetch"],
    ]);
  });

  it("no source file outside packages/core (tests aside) spells one", () => {
    const files = SCANNED_ROOTS.flatMap((r) => sourceFiles(path.join(ROOT, r)))
      .map((f) => path.relative(ROOT, f).split(path.sep).join("/"))
      .filter((f) => !f.startsWith("packages/core/") && !isTestFile(f));
    expect(files.length).toBeGreaterThan(100);
    const findings = files.flatMap((f) => analyzeSource(f, readFileSync(path.join(ROOT, f), "utf8")));
    expect(
      findings.map(
        (f) => `${f.file}:${f.line} spells ${JSON.stringify(f.value)}; import the constant from @runfeed/core`,
      ),
    ).toEqual([]);
  });
});

/** Every module a source text imports, re-exports or loads (static and dynamic imports, require). */
export function importedModules(file: string, text: string): string[] {
  const kind = file.endsWith("x") ? ts.ScriptKind.TSX : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isStringLiteralLike(node) && (isModuleSpecifier(node) || isImportCall(node))) found.push(node.text);
    node.forEachChild(visit);
  };
  visit(source);
  return found;
}

describe("the dashboard rides the product's own client", () => {
  const DASHBOARD = "apps/webapp/app";
  const ELECTRIC_CLIENT = /^@electric-sql\/client(\/|$)/;

  it("the import reader sees static, type-only, dynamic and re-exported imports", () => {
    const text = [
      `import { ShapeStream } from "@electric-sql/client";`,
      `import type { Row } from "@electric-sql/client/types";`,
      `export { FetchError } from "@electric-sql/client";`,
      `const m = await import("@electric-sql/client");`,
      `const s = "@electric-sql/client";`,
    ].join("\n");
    expect(importedModules("fixture.ts", text).filter((m) => ELECTRIC_CLIENT.test(m))).toHaveLength(4);
  });

  it("nothing under apps/webapp/app imports @electric-sql/client, nor does the webapp depend on it", () => {
    const files = sourceFiles(path.join(ROOT, DASHBOARD)).map((f) => path.relative(ROOT, f).split(path.sep).join("/"));
    expect(files.length).toBeGreaterThan(20);
    const offending = files.filter((f) =>
      importedModules(f, readFileSync(path.join(ROOT, f), "utf8")).some((m) => ELECTRIC_CLIENT.test(m)),
    );
    expect(offending, "use @runfeed/react-hooks or @runfeed/sdk").toEqual([]);
    const manifest = JSON.parse(readFileSync(path.join(ROOT, "apps/webapp/package.json"), "utf8")) as Record<
      string,
      Record<string, string> | undefined
    >;
    expect(manifest.dependencies?.["@electric-sql/client"]).toBeUndefined();
    expect(manifest.devDependencies?.["@electric-sql/client"]).toBeUndefined();
  });

  it("the dashboard's live views import @runfeed/react-hooks", () => {
    const routes = sourceFiles(path.join(ROOT, DASHBOARD, "routes")).filter((f) =>
      /\.runs\.(_index|\$runParam)\.tsx$/.test(f),
    );
    expect(routes).toHaveLength(2);
    for (const route of routes)
      expect(importedModules(route, readFileSync(route, "utf8")), route).toContain("@runfeed/react-hooks");
  });
});
