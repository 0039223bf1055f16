import { describe, expect, it } from "vitest";
import { parseCsv, sampleCsv } from "./csv.js";

describe("parseCsv", () => {
  it("reads quoted fields, doubled quotes, commas and CRLF", () => {
    expect(parseCsv('id,name\r\n1,"Lovelace, Ada"\r\n2,"say ""hi"""\r\n')).toEqual([
      ["id", "name"],
      ["1", "Lovelace, Ada"],
      ["2", 'say "hi"'],
    ]);
  });

  it("skips blank lines and rows of empty fields; rows may differ in length", () => {
    expect(parseCsv("a,b\n\n,\n1\n2,3,4")).toEqual([["a", "b"], ["1"], ["2", "3", "4"]]);
  });

  it("reads the sample data: a header and one row per customer", () => {
    const [header, ...rows] = parseCsv(sampleCsv(40));
    expect(header).toEqual(["id", "name", "email", "plan", "amount"]);
    expect(rows).toHaveLength(40);
    expect(rows.every((row) => row.length === 5)).toBe(true);
  });
});
