/** How the dashboard shows a run (components/runs/format.ts) and its list filters. */
import { describe, expect, it } from "vitest";
import { toRealtimeRun } from "@runfeed/sdk";
import { parseRunFilters, runCursor, parseRunCursor } from "../../app/components/runs/filters.js";
import {
  formatCost,
  formatDuration,
  formatRelative,
  formatTimestamp,
  metadataProgress,
  runDurationMs,
  statusTone,
} from "../../app/components/runs/format.js";

describe("dashboard run display", () => {
  it("measures a run from the SDK's mapping: running up to now, finished from start to end", () => {
    const row = {
      id: "cm1",
      friendlyId: "run_1",
      taskIdentifier: "csv-import",
      status: "EXECUTING",
      createdAt: "2026-06-06T10:00:00.000",
      updatedAt: "2026-06-06 10:00:01.5",
      startedAt: "2026-06-06T10:00:00.250",
      metadata: '{"processed":5,"total":20}',
      metadataType: "application/json",
    };
    const running = toRealtimeRun(row);
    expect(metadataProgress(running.metadata)).toBe(0.25);
    expect(runDurationMs(running, running.startedAt!.getTime() + 1500)).toBe(1500);
    const finished = toRealtimeRun({
      ...row,
      status: "COMPLETED_SUCCESSFULLY",
      completedAt: "2026-06-06T10:00:02.250",
    });
    expect(runDurationMs(finished, Date.now())).toBe(2000);
    expect(runDurationMs(toRealtimeRun({ ...row, startedAt: null, usageDurationMs: 0 }), Date.now())).toBeNull();
  });

  it("finds progress in metadata and formats durations, costs and times", () => {
    expect(metadataProgress({ progress: 0.4 })).toBe(0.4);
    expect(metadataProgress({ progress: 40 })).toBe(0.4);
    expect(metadataProgress({ processed: 30, total: 20 })).toBe(1);
    expect(metadataProgress({ processed: 3 })).toBeUndefined();
    expect(metadataProgress(null)).toBeUndefined();
    expect(formatDuration(null)).toBe("–");
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(2500)).toBe("2.5s");
    expect(formatDuration(125_000)).toBe("2m 5s");
    expect(formatCost(0)).toBe("–");
    expect(formatCost(12.5)).toBe("$0.1250");
    expect(formatRelative(0, 90_000)).toBe("1m ago");
    expect(formatTimestamp(Date.UTC(2026, 5, 6, 10))).toBe("2026-06-06 10:00:00.000 UTC");
  });

  it("keys history pages by creation time and friendly id", () => {
    const cursor = runCursor({ createdAt: new Date(1_780_000_000_123), id: "run_abc123" });
    expect(cursor).toBe("1780000000123_run_abc123");
    expect(parseRunCursor(cursor)).toEqual({ createdAt: new Date(1_780_000_000_123), friendlyId: "run_abc123" });
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
