/**
 * Every citation in the repository resolves inside it, by the rules of docs/ARCHITECTURE.md
 * ("Citations"): `§` sections of the two protocol documents, `checklist #N` items of the realtime
 * contract, ADRs, house rules, and relative links in Markdown. And nothing points outside the
 * repository.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");

/** Tracked and new files, text only. */
const FILES = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
  cwd: ROOT,
  encoding: "utf8",
})
  .split("\n")
  .filter((f) => f && existsSync(path.join(ROOT, f)) && f !== "pnpm-lock.yaml")
  .filter((f) => !/\.(png|jpe?g|gif|ico|woff2?|sqlite)$/.test(f));

const lines = (file: string) => read(file).split("\n");

// --- the cited documents

const ELECTRIC = "docs/protocol/electric.md";
const CONTRACT = "docs/protocol/realtime-contract.md";

/** Section numbers of a document (`## 4.` / `### 4.1`), plus `0.n` for items of its §0 list. */
function sectionsOf(file: string): Set<string> {
  const sections = new Set<string>();
  let inZero = false;
  for (const line of lines(file)) {
    const heading = /^#{2,4} (\d+)(?:\.(\d+))?\.? /.exec(line);
    if (heading) {
      sections.add(heading[2] ? `${heading[1]}.${heading[2]}` : heading[1]!);
      inZero = heading[1] === "0" && !heading[2];
      continue;
    }
    if (/^#{1,4} /.test(line)) inZero = false;
    const item = inZero && /^(\d+)\. /.exec(line);
    if (item) sections.add(`0.${item[1]}`);
  }
  return sections;
}

/** Numbered items of the section whose heading starts with `heading`. */
function itemsUnder(file: string, heading: RegExp): Set<number> {
  const items = new Set<number>();
  let inside = false;
  for (const line of lines(file)) {
    if (/^#{1,2} /.test(line)) inside = heading.test(line);
    const item = inside && /^(\d+)\. /.exec(line);
    if (item) items.add(Number(item[1]));
  }
  return items;
}

const SECTIONS = { [ELECTRIC]: sectionsOf(ELECTRIC), [CONTRACT]: sectionsOf(CONTRACT) };
const CHECKLIST = itemsUnder(CONTRACT, /^## Checklist/);
const HOUSE_RULES = itemsUnder("docs/style.md", /^# /);
const ADRS = new Set(readdirSync(path.join(ROOT, "docs/decisions")).map((f) => f.slice(0, 3)));

// --- the rules

/** The document a bare `§` means in `file`. */
function defaultDocument(file: string): string {
  const electric =
    file.startsWith("apps/shape-sync/") || file === "packages/core/src/electric-protocol.ts" || file === ELECTRIC;
  return electric ? ELECTRIC : CONTRACT;
}

const PREFIX =
  /(electric-protocol\.md|electric-protocol|electric\.md|electric|realtime-contract\.md|realtime-contract|contract)\s*$/;
const SECTION = /§\s?(\d+(?:\.\d+)?)(?:\s*[–-]\s*§?\s?(\d+(?:\.\d+)?))?/g;

interface Citation {
  where: string;
  document: string;
  cited: string;
}

/** Every `§` citation in the repository with the document it resolves against. */
function sectionCitations(): Citation[] {
  const found: Citation[] = [];
  for (const file of FILES) {
    lines(file).forEach((line, index) => {
      let document = defaultDocument(file);
      for (const match of line.matchAll(SECTION)) {
        const prefix = PREFIX.exec(line.slice(0, match.index));
        if (prefix) document = prefix[1]!.startsWith("electric") ? ELECTRIC : CONTRACT;
        for (const cited of [match[1], match[2]]) {
          if (cited) found.push({ where: `${file}:${index + 1}`, document, cited });
        }
      }
    });
  }
  return found;
}

/** `matcher` applied to every line; each capture group that matched is one cited number. */
function numbered(pattern: RegExp): Array<{ where: string; cited: number }> {
  const found: Array<{ where: string; cited: number }> = [];
  for (const file of FILES) {
    lines(file).forEach((line, index) => {
      for (const match of line.matchAll(pattern)) {
        for (const group of match.slice(1)) {
          for (const n of group?.match(/\d+/g) ?? []) found.push({ where: `${file}:${index + 1}`, cited: Number(n) });
        }
      }
    });
  }
  return found;
}

describe("citations", () => {
  it("finds the documents, their sections and the checklist", () => {
    expect(SECTIONS[ELECTRIC].size).toBeGreaterThan(30);
    expect(SECTIONS[CONTRACT].size).toBeGreaterThan(30);
    expect([...CHECKLIST]).toEqual(Array.from({ length: 54 }, (_, i) => i + 1));
    expect([...HOUSE_RULES]).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  });

  it("every § names a section that exists in the document it cites", () => {
    const citations = sectionCitations();
    expect(citations.length).toBeGreaterThan(150);
    const unresolved = citations
      .filter((c) => !SECTIONS[c.document as keyof typeof SECTIONS].has(c.cited))
      .map((c) => `${c.where}: §${c.cited} is not a section of ${c.document}`);
    expect(unresolved).toEqual([]);
  });

  it("every checklist #N is an item of the realtime contract's checklist", () => {
    // `#n` and `#n–#m` after the word "checklist" on a line.
    const items = numbered(/checklist((?:[\s,]*(?:and\s+)?#\d+(?:\s*[–-]\s*#?\d+)?)+)/gi);
    expect(items.length).toBeGreaterThan(30);
    const unresolved = items.filter((i) => !CHECKLIST.has(i.cited)).map((i) => `${i.where}: checklist #${i.cited}`);
    expect(unresolved).toEqual([]);
  });

  it("every ADR cited exists in docs/decisions", () => {
    const cited = numbered(/(?:ADR|decisions)[\s/]+(\d{3}(?:(?:\s*,\s*|\s+and\s+)\d{3})*)/g);
    expect(cited.length).toBeGreaterThan(10);
    const missing = cited
      .filter((c) => !ADRS.has(String(c.cited).padStart(3, "0")))
      .map((c) => `${c.where}: ADR ${c.cited}`);
    expect(missing).toEqual([]);
  });

  it("every house rule cited exists in docs/style.md", () => {
    const cited = numbered(/(?:style\.md|house) rule (\d+)/g);
    expect(cited.length).toBeGreaterThan(5);
    expect(cited.filter((c) => !HOUSE_RULES.has(c.cited)).map((c) => `${c.where}: rule ${c.cited}`)).toEqual([]);
  });

  it("ADRs name features, not tracker issues", () => {
    const adrs = FILES.filter((f) => f.startsWith("docs/decisions/"));
    const issues = adrs.flatMap((file) =>
      lines(file)
        .map((line, i) => ({ where: `${file}:${i + 1}`, line }))
        .filter(({ line }) => /\bissue\s+#?\d+|\(#\d+\)/i.test(line))
        .map(({ where, line }) => `${where}: ${line.trim()}`),
    );
    expect(issues).toEqual([]);
  });

  it("relative links in Markdown lead to files in the repository", () => {
    const broken: string[] = [];
    for (const file of FILES.filter((f) => f.endsWith(".md"))) {
      for (const match of read(file).matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1]!.split("#")[0]!;
        if (!target || /^[a-z]+:/.test(target)) continue;
        if (!existsSync(path.join(ROOT, path.dirname(file), target))) broken.push(`${file}: ${match[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe("nothing points outside the repository", () => {
  it("no path leads out of the repository or into someone's machine", () => {
    const outside = /shared\/docs|\.\.\/shared|\/work\/|\/root\/|\/home\/[a-z]/;
    const hits = FILES.flatMap((file) =>
      lines(file)
        .map((line, i) => ({ where: `${file}:${i + 1}`, line }))
        .filter(({ line }) => outside.test(line))
        .map(({ where, line }) => `${where}: ${line.trim()}`),
    );
    expect(hits).toEqual([]);
  });
});
