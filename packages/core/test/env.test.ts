import { describe, expect, it } from "vitest";
import { z } from "zod";
import { envBoolean, parseBooleanWord } from "../src/env.js";

describe("env booleans, read alike by every process", () => {
  it("accepts true/false/1/0/yes/no/on/off in any case", () => {
    for (const word of ["true", "TRUE", "1", "yes", "Yes", "on", " ON "]) expect(parseBooleanWord(word)).toBe(true);
    for (const word of ["false", "False", "0", "no", "NO", "off", "Off"]) expect(parseBooleanWord(word)).toBe(false);
    for (const word of ["", "maybe", "2", "y", "n", "truthy", "enabled"])
      expect(parseBooleanWord(word)).toBeUndefined();
  });

  it("unset or empty is the default; anything else is refused at the variable's key", () => {
    const schema = z.object({ FEATURE_X: envBoolean(true), FEATURE_Y: envBoolean(false) });
    expect(schema.parse({})).toEqual({ FEATURE_X: true, FEATURE_Y: false });
    expect(schema.parse({ FEATURE_X: "", FEATURE_Y: " " })).toEqual({ FEATURE_X: true, FEATURE_Y: false });
    expect(schema.parse({ FEATURE_X: "no", FEATURE_Y: "Yes" })).toEqual({ FEATURE_X: false, FEATURE_Y: true });
    const refused = schema.safeParse({ FEATURE_X: "maybe" });
    expect(refused.success).toBe(false);
    expect(z.prettifyError(refused.error!)).toMatch(/expected a boolean .* got "maybe"[\s\S]*FEATURE_X/);
  });
});
