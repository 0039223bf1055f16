import { describe, expect, it } from "vitest";
import { TASK_RUN_STATUSES, isFinalRunStatus, publicStatusFromRunStatus, runStatusFlags } from "../src/status.js";

describe("publicStatusFromRunStatus (§5.3)", () => {
  it("maps every DB status like the SDK", () => {
    const expected: Record<string, string> = {
      DELAYED: "DELAYED",
      WAITING_FOR_DEPLOY: "PENDING_VERSION",
      PENDING_VERSION: "PENDING_VERSION",
      PENDING: "QUEUED",
      PAUSED: "WAITING",
      WAITING_TO_RESUME: "WAITING",
      DEQUEUED: "DEQUEUED",
      RETRYING_AFTER_FAILURE: "EXECUTING",
      EXECUTING: "EXECUTING",
      CANCELED: "CANCELED",
      COMPLETED_SUCCESSFULLY: "COMPLETED",
      SYSTEM_FAILURE: "SYSTEM_FAILURE",
      CRASHED: "CRASHED",
      EXPIRED: "EXPIRED",
      TIMED_OUT: "TIMED_OUT",
      INTERRUPTED: "FAILED",
      COMPLETED_WITH_ERRORS: "FAILED",
    };
    for (const status of TASK_RUN_STATUSES) expect(publicStatusFromRunStatus(status), status).toBe(expected[status]);
  });
  it("maps unknown values to QUEUED and DEQUEUED to EXECUTING for api version none", () => {
    expect(publicStatusFromRunStatus("SOMETHING_NEW")).toBe("QUEUED");
    expect(publicStatusFromRunStatus("DEQUEUED", "none")).toBe("EXECUTING");
  });
});

describe("runStatusFlags", () => {
  it("derives the is* booleans from the public status", () => {
    expect(runStatusFlags("QUEUED")).toMatchObject({ isQueued: true, isExecuting: false, isCompleted: false });
    expect(runStatusFlags("DELAYED").isQueued).toBe(true);
    expect(runStatusFlags("PENDING_VERSION").isQueued).toBe(true);
    expect(runStatusFlags("DEQUEUED").isExecuting).toBe(true);
    expect(runStatusFlags("WAITING").isWaiting).toBe(true);
    expect(runStatusFlags("COMPLETED")).toMatchObject({ isSuccess: true, isCompleted: true, isFailed: false });
    for (const failed of ["FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"] as const) {
      expect(runStatusFlags(failed)).toMatchObject({ isFailed: true, isCompleted: true, isSuccess: false });
    }
    expect(runStatusFlags("CANCELED")).toEqual({
      isQueued: false,
      isExecuting: false,
      isWaiting: false,
      isCompleted: false,
      isSuccess: false,
      isFailed: false,
      isCancelled: true,
    });
  });
  it("knows the final statuses", () => {
    expect(isFinalRunStatus("CANCELED")).toBe(true);
    expect(isFinalRunStatus("EXECUTING")).toBe(false);
  });
});
