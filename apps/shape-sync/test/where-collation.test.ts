/** Text collations in where clauses (§8): in-process text ordering is by code point, so other collations are rejected. */
import { beforeAll, describe, expect, it } from "vitest";
import { compileWhere, loadWhereParser, WhereError, type ColumnType } from "../src/where/where-clause.js";
import { compareCodePoints } from "../src/where/values.js";
import { collationOrdersByCodePoint } from "../src/where/collation.js";

const text = (extra: Partial<ColumnType> = {}): ColumnType => ({ base: "text", name: "text", dims: 0, ...extra });
const C_DEFAULT = { name: "C.UTF-8", codePointOrder: true };
const EN_DEFAULT = { name: "en_US.utf8", codePointOrder: false };

/** A database whose default collation is C.UTF-8, with one en_US column and one explicitly "C" column. */
const cDb = new Map<string, ColumnType>([
  [
    "name",
    text({
      collation: "C.UTF-8",
      collationIsDefault: true,
      codePointOrder: true,
      deterministic: true,
      defaultCollation: C_DEFAULT,
    }),
  ],
  [
    "en",
    text({
      collation: "en_US.utf8",
      collationIsDefault: false,
      codePointOrder: false,
      deterministic: true,
      defaultCollation: C_DEFAULT,
    }),
  ],
  [
    "c",
    text({
      collation: "C",
      collationIsDefault: false,
      codePointOrder: true,
      deterministic: true,
      defaultCollation: C_DEFAULT,
    }),
  ],
  [
    "tags",
    text({ dims: 1, collation: "en_US.utf8", codePointOrder: false, deterministic: true, defaultCollation: C_DEFAULT }),
  ],
  ["nd", text({ collation: "und-x-icu-ci", codePointOrder: false, deterministic: false, defaultCollation: C_DEFAULT })],
  ["n", { base: "int", name: "int4", dims: 0, defaultCollation: C_DEFAULT }],
]);
/** A database whose default collation is en_US.utf8 (the official postgres image). */
const enDb = new Map<string, ColumnType>([
  [
    "name",
    text({
      collation: "en_US.utf8",
      collationIsDefault: true,
      codePointOrder: false,
      deterministic: true,
      defaultCollation: EN_DEFAULT,
    }),
  ],
  [
    "c",
    text({
      collation: "C",
      collationIsDefault: false,
      codePointOrder: true,
      deterministic: true,
      defaultCollation: EN_DEFAULT,
    }),
  ],
]);

beforeAll(() => loadWhereParser());

const ev = (cols: Map<string, ColumnType>, where: string, row: Record<string, string | null>, params: string[] = []) =>
  compileWhere(where, cols, params).evaluate(row);
const rejects = (cols: Map<string, ColumnType>, where: string, message: RegExp) => {
  expect(() => compileWhere(where, cols)).toThrow(WhereError);
  expect(() => compileWhere(where, cols)).toThrow(message);
};

describe("text ordering and collations", () => {
  it("orders code-point collated text by code point (uppercase before lowercase, astral after U+FFFD)", () => {
    expect(ev(cDb, "name < 'b'", { name: "B" })).toBe(true);
    expect(ev(cDb, "name < 'b'", { name: "a" })).toBe(true);
    expect(ev(cDb, "name > 'a'", { name: "B" })).toBe(false);
    expect(ev(cDb, "name <= 'B'", { name: "B" })).toBe(true);
    expect(ev(cDb, "name BETWEEN 'A' AND 'Z'", { name: "a" })).toBe(false);
    expect(ev(cDb, "c >= 'é'", { c: "z" })).toBe(false);
    expect(ev(cDb, "name > '\uFFFD'", { name: "\u{1F600}" })).toBe(true);
    expect(ev(cDb, "GREATEST(name, 'a') = 'b'", { name: "b" })).toBe(true);
    // An implicit non-default "C" column wins over the default collation of the constant.
    expect(ev(enDb, "c < 'b'", { c: "B" })).toBe(true);
    expect(ev(cDb, "'B' < 'a'", {})).toBe(true);
  });

  it("rejects ordering by a linguistic column collation, with the way out in the message", () => {
    rejects(
      cDb,
      "en < 'b'",
      /At location 3: ordering text by collation "en_US\.utf8" is not supported \(only C \/ C\.UTF-8 \/ POSIX \/ ucs_basic collations order text by code point\); compare with = or cast the column: "en" COLLATE "C"/,
    );
    rejects(cDb, "'b' > en", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "en BETWEEN 'a' AND 'm'", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "en NOT BETWEEN SYMMETRIC 'a' AND 'm'", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "LEAST(en, 'x') = 'a'", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "lower(en) < 'b'", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "en::varchar(10) > 'b'", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "en || 'x' > 'b'", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "en < ANY(ARRAY['a', 'b'])", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "'m' > ALL(tags)", /ordering text by collation "en_US\.utf8"/);
    rejects(cDb, "tags[1] < 'm'", /ordering text by collation "en_US\.utf8"/);
    expect(() => compileWhere("en < $1", cDb, ["b"])).toThrow(/ordering text by collation "en_US\.utf8"/);
    // The database default applies to default-collated columns and to constants.
    rejects(enDb, "name < 'b'", /ordering text by collation "en_US\.utf8".*"name" COLLATE "C"/);
    rejects(
      enDb,
      "'a' < 'b'",
      /ordering text by the database default collation "en_US\.utf8" is not supported .*add COLLATE "C"/,
    );
  });

  it("keeps equality, IN and LIKE on linguistic collations, and non-text ordering", () => {
    expect(ev(cDb, "en = 'b'", { en: "b" })).toBe(true);
    expect(ev(cDb, "en <> 'b'", { en: "B" })).toBe(true);
    expect(ev(cDb, "en IN ('a', 'b')", { en: "b" })).toBe(true);
    expect(ev(cDb, "en LIKE 'b%'", { en: "bc" })).toBe(true);
    expect(ev(cDb, "en IS DISTINCT FROM 'b'", { en: "b" })).toBe(false);
    expect(ev(cDb, "tags @> ARRAY['x']", { tags: "{x,y}" })).toBe(true);
    expect(ev(cDb, "n < 3 AND en = 'b'", { en: "b", n: "2" })).toBe(true);
    expect(ev(cDb, "en::int < 3", { en: "2" })).toBe(true); // a cast to a non-collatable type leaves the collation behind
    expect(ev(cDb, "en::int::text < '3'", { en: "2" })).toBe(true); // …and text made from it has the default one
    expect(compileWhere("en = $1", cDb, ["x"]).hint).toEqual({ column: "en", kind: "eq", keys: ["sx"] });
  });

  it('accepts COLLATE "C" (and other code-point collations) and evaluates by code point, keeping it in the snapshot SQL', () => {
    const w = compileWhere(`en COLLATE "C" < $1`, cDb, ["b"]);
    expect(w.sql).toBe(`en COLLATE "C" < 'b'`);
    expect(w.evaluate({ en: "B" })).toBe(true);
    expect(w.evaluate({ en: "a" })).toBe(true);
    expect(w.evaluate({ en: "c" })).toBe(false);
    expect(w.evaluate({ en: null })).toBe(null);
    expect(ev(cDb, `'b' > en COLLATE "POSIX"`, { en: "B" })).toBe(true);
    expect(ev(cDb, `en COLLATE pg_catalog."C" BETWEEN 'A' AND 'Z'`, { en: "a" })).toBe(false);
    expect(ev(cDb, `en COLLATE "ucs_basic" >= 'a'`, { en: "Z" })).toBe(false);
    expect(ev(cDb, `lower(en COLLATE "C") < 'b'`, { en: "A" })).toBe(true);
    expect(ev(cDb, `GREATEST(en COLLATE "C", 'a') = 'a'`, { en: "B" })).toBe(true);
    expect(ev(cDb, `en < 'b' COLLATE "C"`, { en: "B" })).toBe(true);
    expect(ev(cDb, `tags[1] COLLATE "C" < 'b'`, { tags: "{B}" })).toBe(true);
    expect(ev(enDb, `name COLLATE "C" < 'b'`, { name: "B" })).toBe(true);
    expect(ev(enDb, `'B' COLLATE "C" < 'a'`, {})).toBe(true);
    expect(compileWhere(`c COLLATE "C" < 'b'`, cDb).key).not.toBe(compileWhere(`c < 'b'`, cDb).key);
  });

  it("rejects other COLLATE names, conflicting collations and nondeterministic collations", () => {
    rejects(
      cDb,
      `en COLLATE "en_US" < 'b'`,
      /At location 3: COLLATE "en_US" is not supported: text is evaluated by code point, so only "C", "POSIX"/,
    );
    rejects(cDb, `en COLLATE "en_US" = 'b'`, /COLLATE "en_US" is not supported/);
    rejects(cDb, `n COLLATE "C" = 1`, /collations are not supported by type int4/);
    rejects(
      cDb,
      `en COLLATE "C" < c COLLATE "POSIX"`,
      /collation mismatch between explicit collations "C" and "POSIX"/,
    );
    rejects(enDb, `name COLLATE "default" < 'b'`, /ordering text by collation "en_US\.utf8"/);
    expect(ev(cDb, `name COLLATE "default" < 'b'`, { name: "B" })).toBe(true);
    rejects(cDb, "en = c", /could not determine which collation to use for string comparison/);
    expect(ev(cDb, `en = c COLLATE "C"`, { en: "x", c: "x" })).toBe(true);
    rejects(cDb, "nd = 'b'", /nondeterministic collation "und-x-icu-ci" is not supported/);
    rejects(cDb, "nd LIKE 'b%'", /nondeterministic collation/);
    rejects(cDb, "nd IN ('a')", /nondeterministic collation/);
    expect(ev(cDb, `nd COLLATE "C" = 'b'`, { nd: "b" })).toBe(true);
  });

  it("columns without collation info keep the old behaviour (code point order)", () => {
    const plain = new Map<string, ColumnType>([["s", text()]]);
    expect(ev(plain, "s < 'b'", { s: "B" })).toBe(true);
  });

  it("classifies providers and locales", () => {
    for (const l of ["C", "POSIX", "C.UTF-8", "C.utf8"]) expect(collationOrdersByCodePoint("c", l)).toBe(true);
    for (const l of ["en_US.utf8", "en_US", "de_DE.UTF-8", null])
      expect(collationOrdersByCodePoint("c", l)).toBe(false);
    expect(collationOrdersByCodePoint("i", "C")).toBe(false);
    expect(collationOrdersByCodePoint("i", "en-US")).toBe(false);
    expect(collationOrdersByCodePoint("b", "C.UTF-8")).toBe(true);
  });

  it("compares strings by code point (UTF-8 byte order), not UTF-16 code units", () => {
    expect(compareCodePoints("a", "b")).toBe(-1);
    expect(compareCodePoints("B", "a")).toBe(-1);
    expect(compareCodePoints("ab", "a")).toBe(1);
    expect(compareCodePoints("x", "x")).toBe(0);
    expect(compareCodePoints("\u{1F600}", "\uFFFD")).toBe(1);
    expect(compareCodePoints("\uE000", "\u{10000}")).toBe(-1);
    expect(compareCodePoints("\u{1F600}", "\u{1F601}")).toBe(-1);
    expect(compareCodePoints("\uD7FF", "\u{10000}")).toBe(-1);
  });
});
