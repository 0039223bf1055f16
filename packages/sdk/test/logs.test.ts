import { describe, expect, it } from "vitest";
import { mergeRunLogLines, RunLogFold, RunParseError, toRunLogLine, type RunLogLine } from "../src/index.js";

const row = (id: string, time: string, seq = 0, extra: Record<string, unknown> = {}) => ({
  id,
  runId: "r",
  kind: "log",
  level: "info",
  message: id,
  attributes: { a: 1 },
  time,
  seq,
  createdAt: time,
  ...extra,
});
const insert = (value: Record<string, unknown>) => ({ key: String(value.id), value, headers: { operation: "insert" } });
const upToDate = { headers: { control: "up-to-date" } };

describe("run log lines", () => {
  it("parses a shape row; a row without a valid level or time is a RunParseError", () => {
    const line = toRunLogLine(row("x", "2026-12-06 10:00:00.123", 2));
    expect(line.time.toISOString()).toBe("2026-12-06T10:00:00.123Z");
    expect(line).toMatchObject({ seq: 2, attributes: { a: 1 }, kind: "log", level: "info" });
    expect(toRunLogLine(row("y", "2026-12-06 10:00:00", 0, { attributes: '{"b":2}' })).attributes).toEqual({ b: 2 });
    expect(() => toRunLogLine(row("z", "2026-12-06 10:00:00", 0, { level: "fatal" }))).toThrow(RunParseError);
    expect(() => toRunLogLine(row("z", "not a time"))).toThrow(RunParseError);
  });

  it("the fold hands out new lines at up-to-date only, in order, each once (also after a refetch)", () => {
    const fold = new RunLogFold();
    expect(fold.apply([insert(row("b", "2026-12-06 10:00:01"))]).lines).toEqual([]);
    const first = fold.apply([insert(row("a", "2026-12-06 10:00:00")), upToDate]);
    expect(first.lines.map((l) => l.id)).toEqual(["a", "b"]);
    // must-refetch replays everything: nothing is handed out twice.
    const replay = fold.apply([
      insert(row("a", "2026-12-06 10:00:00")),
      insert(row("b", "2026-12-06 10:00:01")),
      insert(row("c", "2026-12-06 10:00:01", 1)),
      { key: "b", value: { message: "changed" }, headers: { operation: "update" } },
      upToDate,
    ]);
    expect(replay.lines.map((l) => l.id)).toEqual(["c"]);
  });

  it("merge keeps order by time, seq, id and drops lines already held", () => {
    const line = (id: string, ms: number, seq = 0) => toRunLogLine(row(id, new Date(ms).toISOString(), seq));
    const held: RunLogLine[] = [line("a", 1000), line("c", 3000)];
    const merged = mergeRunLogLines(held, [line("b", 2000), line("a", 1000), line("d", 3000, 1), line("c0", 3000)]);
    expect(merged.map((l) => l.id)).toEqual(["a", "b", "c", "c0", "d"]);
    expect(mergeRunLogLines(held, [line("a", 1000)])).toBe(held);
  });
});
