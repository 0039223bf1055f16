import { describe, expect, it } from "vitest";
import {
  compareStreamEntryIds,
  formatStreamEntryId,
  parseLastEventId,
  parseStreamEntryId,
  sseEvent,
  streamKeyProblem,
} from "../src/index.js";

describe("realtime stream wire values", () => {
  it("parses Redis entry ids and orders them by time, then sequence", () => {
    expect(parseStreamEntryId("1700000000000-12")).toEqual({ ms: 1700000000000, seq: 12 });
    for (const bad of ["", "1", "1-", "-1", "1-2-3", "a-1", "1.5-0", "1234567890123456-0"])
      expect(parseStreamEntryId(bad), bad).toBeUndefined();
    const ids = ["5-0", "4-10", "4-2", "10-0"].map((id) => parseStreamEntryId(id)!);
    expect(ids.sort(compareStreamEntryIds).map(formatStreamEntryId)).toEqual(["4-2", "4-10", "5-0", "10-0"]);
  });

  it("reads Last-Event-ID as an entry id, or a bare index as chunks to skip (the SDK's startIndex - 1)", () => {
    expect(parseLastEventId("17-3")).toEqual({ kind: "after", id: { ms: 17, seq: 3 } });
    expect(parseLastEventId("4")).toEqual({ kind: "skip", chunks: 5 });
    expect(parseLastEventId(" 0 ")).toEqual({ kind: "skip", chunks: 1 });
    expect(parseLastEventId("yesterday")).toBeUndefined();
    expect(parseLastEventId("-1")).toBeUndefined();
  });

  it("accepts stream keys of 1–256 characters without control characters or '/'; '$trigger.' is reserved", () => {
    expect(streamKeyProblem("llm")).toBeUndefined();
    expect(streamKeyProblem("chat:42 — ünïcode")).toBeUndefined();
    expect(streamKeyProblem("")).toMatch(/1 to 256/);
    expect(streamKeyProblem("x".repeat(257))).toMatch(/1 to 256/);
    expect(streamKeyProblem("a/b")).toMatch(/'\/'/);
    expect(streamKeyProblem("a\u0000b")).toMatch(/control/);
    expect(streamKeyProblem("$trigger.input:x")).toMatch(/reserved/);
    expect(streamKeyProblem("$trigger.input:x", { allowReserved: true })).toBeUndefined();
  });

  it("frames one chunk as one SSE event", () => {
    expect(sseEvent("1-0", '{"a":1}')).toBe('id: 1-0\ndata: {"a":1}\n\n');
  });
});
