import { describe, expect, it } from "vitest";
import { parseRunFilters } from "../../app/components/runs/filters.js";
import {
  formatDuration,
  metadataProgress,
  parseUtcTimestamp,
  runDurationMs,
  runFromShapeRow,
  statusTone,
} from "../../app/components/runs/runRow.js";

describe("dashboard run rows", () => {
  it("reads streamed rows: UTC timestamps without a zone, arrays, metadata text", () => {
    const run = runFromShapeRow({
      id: "cm1",
      friendlyId: "run_1",
      taskIdentifier: "csv-import",
      status: "EXECUTING",
      createdAt: "2026-06-06T10:00:00.000",
      updatedAt: "2026-06-06 10:00:01.5",
      startedAt: "2026-06-06T10:00:00.250",
      completedAt: null,
      runTags: ["a", "b"],
      usageDurationMs: 12,
      costInCents: 0.5,
      baseCostInCents: 0.25,
      metadata: '{"processed":5,"total":20}',
    });
    expect(run.createdAt).toBe(Date.UTC(2026, 5, 6, 10, 0, 0));
    expect(run.updatedAt).toBe(Date.UTC(2026, 5, 6, 10, 0, 1, 500));
    expect(run.tags).toEqual(["a", "b"]);
    expect(metadataProgress(run.metadata)).toBe(0.25);
    expect(runDurationMs(run, run.startedAt! + 1500)).toBe(1500);
  });

  it("finds progress in metadata and formats durations", () => {
    expect(metadataProgress({ progress: 0.4 })).toBe(0.4);
    expect(metadataProgress({ progress: 40 })).toBe(0.4);
    expect(metadataProgress({ processed: 30, total: 20 })).toBe(1);
    expect(metadataProgress({ processed: 3 })).toBeUndefined();
    expect(metadataProgress(null)).toBeUndefined();
    expect(formatDuration(null)).toBe("–");
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(2500)).toBe("2.5s");
    expect(formatDuration(125_000)).toBe("2m 5s");
    expect(parseUtcTimestamp("")).toBeNull();
    expect(parseUtcTimestamp("2026-06-06T10:00:00Z")).toBe(Date.UTC(2026, 5, 6, 10));
  });

  it("colours statuses by outcome", () => {
    expect(statusTone("COMPLETED")).toBe("success");
    expect(statusTone("EXECUTING")).toBe("running");
    expect(statusTone("FAILED")).toBe("failed");
    expect(statusTone("SYSTEM_FAILURE")).toBe("failed");
    expect(statusTone("QUEUED")).toBe("queued");
    expect(statusTone("CANCELED")).toBe("canceled");
  });

  it("parses list filters leniently (bad values fall back to defaults)", () => {
    const url = new URL("http://x/runs?status=FAILED&task=csv-import&tag=&range=1h&limit=9999&cursor=bad");
    expect(parseRunFilters(url)).toEqual({
      status: "FAILED",
      task: "csv-import",
      tag: undefined,
      range: "1h",
      limit: 25,
      cursor: undefined,
    });
    expect(parseRunFilters(new URL("http://x/runs?status=NOPE"))).toMatchObject({
      status: undefined,
      range: "7d",
      limit: 25,
    });
  });
});
