import { describe, expect, it } from "vitest";
import {
  compareOffsets,
  formatOffset,
  nextCursor,
  parseIfNoneMatch,
  parseOffset,
  rowKey,
  relationKeyPrefix,
  lsnToBigInt,
  bigIntToLsn,
  CURSOR_EPOCH_MS,
} from "@runfeed/core";
import { parseColumnList, parseRelation } from "../src/pg/identifiers.js";
import { XidFilter, parsePgSnapshot } from "../src/shapes/snapshot.js";

describe("offset codec", () => {
  it("parses and formats the grammar", () => {
    for (const s of ["-1", "now", "0_0", "0_inf", "24819240_4", "18446744073709551615_2"])
      expect(formatOffset(parseOffset(s)!)).toBe(s);
    for (const s of ["", "-2", "1_", "_1", "1_-1", "a_b", "1_2_3", "18446744073709551616_0"])
      expect(parseOffset(s)).toBeUndefined();
  });
  it("orders offsets", () => {
    const o = (s: string) => parseOffset(s)!;
    expect(compareOffsets(o("-1"), o("0_0"))).toBe(-1);
    expect(compareOffsets(o("0_inf"), o("1_0"))).toBe(-1);
    expect(compareOffsets(o("5_inf"), o("5_99"))).toBe(1);
    expect(compareOffsets(o("5_2"), o("5_10"))).toBe(-1);
    expect(compareOffsets(o("7_2"), o("7_2"))).toBe(0);
  });
  it("converts LSNs", () => {
    expect(lsnToBigInt("1/2A")).toBe((1n << 32n) + 42n);
    expect(bigIntToLsn((1n << 32n) + 42n)).toBe("1/2A");
  });
});

describe("cursor, etag, keys, identifiers, xid filter", () => {
  it("cursor is a 20 s bucket, strictly increasing", () => {
    const now = CURSOR_EPOCH_MS + 1_000_005;
    expect(nextCursor("", 20_000, now)).toBe("1020");
    const later = Number(nextCursor("1020", 20_000, now, () => 0));
    expect(later).toBe(1021);
  });
  it("if-none-match parsing", () => {
    expect(parseIfNoneMatch(`"a:-1:0_0", W/"b"`)).toEqual([`"a:-1:0_0"`, `"b"`]);
  });
  it("row keys escape / and .", () => {
    expect(rowKey(relationKeyPrefix("my.schema", "a/b"), ["x/y", null])).toBe(`"my..schema"."a//b"/"x//y"/_`);
  });
  it("identifiers", () => {
    expect(parseRelation(`public."TaskRun"`)).toEqual({ schema: "public", table: "TaskRun" });
    expect(parseRelation(`Items`)).toEqual({ schema: "public", table: "items" });
    expect(() => parseRelation(`a.b.c`)).toThrow(/too many delimiters/);
    expect(parseColumnList(`"id","taskIdentifier",x`)).toEqual(["id", "taskIdentifier", "x"]);
    expect(parseColumnList(`"a,b",c`)).toEqual(["a,b", "c"]);
  });
  it("xid visibility against a snapshot", () => {
    const f = new XidFilter(parsePgSnapshot("100:105:101,103"));
    expect(f.visible(99)).toBe(true);
    expect(f.visible(101)).toBe(false);
    expect(f.visible(102)).toBe(true);
    expect(f.visible(105)).toBe(false);
    expect(f.afterSnapshot(105)).toBe(true);
    expect(f.afterSnapshot(104)).toBe(false);
  });
});
