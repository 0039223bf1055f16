import { describe, expect, it } from "vitest";
import { toSegments } from "../../app/services/realtime/streams/streamArchive.server.js";
import type { StreamEntry } from "../../app/services/realtime/streams/streamStore.server.js";

describe("archive segments", () => {
  it("cuts data entries into segments of ≤ 1,000 chunks, leaving end markers out", () => {
    const entries: StreamEntry[] = [
      ...Array.from({ length: 2_500 }, (_, i) => ({ id: `${1000 + i}-0`, data: JSON.stringify({ i }) })),
      { id: "9999-0", end: "finished" },
    ];
    const segments = toSegments(entries);
    expect(segments.map((s) => s.chunkCount)).toEqual([1_000, 1_000, 500]);
    expect(segments[0]!.first).toEqual({ ms: 1000, seq: 0 });
    expect(segments[2]!.last).toEqual({ ms: 3499, seq: 0 });
    expect(segments[1]!.entries.split("\n")[0]).toBe('2000-0 {"i":1000}');
    expect(segments.reduce((n, s) => n + s.bytes, 0)).toBe(entries.reduce((n, e) => n + (e.data?.length ?? 0), 0));
  });

  it("starts a new segment past 1 MiB", () => {
    const big = JSON.stringify("x".repeat(400_000));
    const segments = toSegments(Array.from({ length: 6 }, (_, i) => ({ id: `${i + 1}-0`, data: big })));
    expect(segments.map((s) => s.chunkCount)).toEqual([3, 3]);
  });
});
