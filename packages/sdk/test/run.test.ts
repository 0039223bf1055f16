import { describe, expect, it } from "vitest";
import { RunParseError, toRealtimeRun } from "../src/index.js";
import { parseRunError, parseTextArray, parseUtcTimestamp } from "../src/run.js";

/** A row exactly as the wire carries it (contract §5.2): every value a string or null. */
const wireRow = (overrides: Record<string, unknown> = {}) => ({
  id: "cm9internal",
  friendlyId: "run_cm9abc",
  taskIdentifier: "my-task",
  status: "EXECUTING",
  createdAt: "2026-06-06T10:00:00.000",
  updatedAt: "2026-06-06T10:05:30.123",
  startedAt: "2026-06-06 10:01:00.5",
  delayUntil: null,
  queuedAt: "2026-06-06T10:00:00.001",
  expiredAt: null,
  completedAt: null,
  isTest: "f",
  number: "42",
  usageDurationMs: "1234",
  costInCents: "0.55",
  baseCostInCents: "0.25",
  ttl: null,
  payload: '{"hello":"world"}',
  payloadType: "application/json",
  metadata: '{"step":1}',
  metadataType: "application/json",
  output: null,
  outputType: "application/json",
  runTags: '{"user:123","env:prod"}',
  error: null,
  realtimeStreams: "{}",
  ...overrides,
});

describe("toRealtimeRun (contract §5)", () => {
  it("maps a wire row to the RealtimeRun shape", () => {
    const run = toRealtimeRun(wireRow());
    expect(run).toMatchObject({
      id: "run_cm9abc",
      taskIdentifier: "my-task",
      status: "EXECUTING",
      payload: { hello: "world" },
      metadata: { step: 1 },
      output: undefined,
      tags: ["user:123", "env:prod"],
      realtimeStreams: [],
      number: 42,
      isTest: false,
      durationMs: 1234,
      costInCents: 0.55,
      baseCostInCents: 0.25,
      idempotencyKey: undefined,
      finishedAt: undefined,
      isExecuting: true,
      isCompleted: false,
    });
    expect(run.createdAt.toISOString()).toBe("2026-06-06T10:00:00.000Z");
    expect(run.updatedAt.toISOString()).toBe("2026-06-06T10:05:30.123Z");
    expect(run.startedAt?.toISOString()).toBe("2026-06-06T10:01:00.500Z");
    expect(run.queuedAt?.toISOString()).toBe("2026-06-06T10:00:00.001Z");
    expect(run.delayedUntil).toBeUndefined();
  });

  it("accepts values already typed by the Electric parser (bool, int4, float8, dims, jsonb)", () => {
    const run = toRealtimeRun(
      wireRow({
        isTest: true,
        number: 7,
        costInCents: 1.5,
        runTags: ["a", "b"],
        error: { type: "STRING_ERROR", raw: "boom" },
        status: "COMPLETED_WITH_ERRORS",
        completedAt: "2026-06-06T10:06:00.000",
      }),
    );
    expect(run).toMatchObject({
      isTest: true,
      number: 7,
      costInCents: 1.5,
      tags: ["a", "b"],
      error: { message: "boom" },
      status: "FAILED",
      isFailed: true,
      isCompleted: true,
    });
    expect(run.finishedAt?.toISOString()).toBe("2026-06-06T10:06:00.000Z");
  });

  it.each([
    ["PENDING", "QUEUED", "isQueued"],
    ["DELAYED", "DELAYED", "isQueued"],
    ["WAITING_FOR_DEPLOY", "PENDING_VERSION", "isQueued"],
    ["DEQUEUED", "DEQUEUED", "isExecuting"],
    ["RETRYING_AFTER_FAILURE", "EXECUTING", "isExecuting"],
    ["WAITING_TO_RESUME", "WAITING", "isWaiting"],
    ["COMPLETED_SUCCESSFULLY", "COMPLETED", "isSuccess"],
    ["INTERRUPTED", "FAILED", "isFailed"],
    ["CRASHED", "CRASHED", "isFailed"],
    ["CANCELED", "CANCELED", "isCancelled"],
    ["SOMETHING_NEW", "QUEUED", "isQueued"],
  ])("maps DB status %s to %s (%s)", (db, publicStatus, flag) => {
    const run = toRealtimeRun(wireRow({ status: db })) as unknown as Record<string, unknown>;
    expect(run.status).toBe(publicStatus);
    expect(run[flag]).toBe(true);
  });

  it("does not count CANCELED as completed", () => {
    const run = toRealtimeRun(wireRow({ status: "CANCELED", completedAt: "2026-06-06T10:06:00.000" }));
    expect(run.isCompleted).toBe(false);
    expect(run.isCancelled).toBe(true);
    expect(run.finishedAt).toBeInstanceOf(Date);
  });

  it("parses packets by their type and leaves skipped columns undefined", () => {
    expect(toRealtimeRun(wireRow({ payload: "hi", payloadType: "text/plain" })).payload).toBe("hi");
    expect(
      toRealtimeRun(wireRow({ payload: '{"json":{"a":1},"meta":{}}', payloadType: "application/super+json" })).payload,
    ).toEqual({ a: 1 });
    expect(toRealtimeRun(wireRow({ output: '{"ok":true}' })).output).toEqual({ ok: true });
    expect(toRealtimeRun(wireRow({ payload: "" })).payload).toBeUndefined();
    const skipped = toRealtimeRun({
      id: "x",
      friendlyId: "run_1",
      taskIdentifier: "t",
      status: "PENDING",
      createdAt: "2026-06-06T10:00:00.000",
      updatedAt: "2026-06-06T10:00:00.000",
    });
    expect(skipped).toMatchObject({
      payload: undefined,
      metadata: undefined,
      output: undefined,
      tags: [],
      error: undefined,
      isQueued: true,
    });
  });

  it("fails clearly on a partial row or a zoned/invalid required date", () => {
    expect(() => toRealtimeRun({ id: "x", status: "PENDING" })).toThrow(RunParseError);
    expect(() => toRealtimeRun(wireRow({ createdAt: "yesterday" }))).toThrow(/invalid createdAt/);
  });

  it("maps TaskRunError variants", () => {
    expect(
      parseRunError('{"type":"BUILT_IN_ERROR","name":"TypeError","message":"x is undefined","stackTrace":"at f"}'),
    ).toEqual({ name: "TypeError", message: "x is undefined", stackTrace: "at f", causes: undefined });
    expect(parseRunError({ type: "INTERNAL_ERROR", code: "TASK_RUN_CRASHED" })?.message).toBe(
      "trigger.dev internal error (TASK_RUN_CRASHED)",
    );
    expect(() => parseRunError({ type: "NOPE" })).toThrow(RunParseError);
  });
});

describe("wire value helpers", () => {
  it("parses UTC-without-zone timestamps in both the T and the Postgres form", () => {
    expect(parseUtcTimestamp("2026-06-06T10:00:00.000")?.getTime()).toBe(Date.UTC(2026, 5, 6, 10));
    expect(parseUtcTimestamp("2026-06-06 10:00:00")?.getTime()).toBe(Date.UTC(2026, 5, 6, 10));
    expect(parseUtcTimestamp("2026-06-06T10:00:00.000Z")?.getTime()).toBe(Date.UTC(2026, 5, 6, 10));
    expect(parseUtcTimestamp(null)).toBeUndefined();
  });

  it("parses Postgres text[] literals with quotes, escapes and NULL", () => {
    expect(parseTextArray('{"a,b","c\\"d","e\\\\f"}')).toEqual(["a,b", 'c"d', "e\\f"]);
    expect(parseTextArray("{plain,NULL,x}")).toEqual(["plain", "x"]);
    expect(parseTextArray("{}")).toEqual([]);
    expect(parseTextArray(null)).toEqual([]);
  });
});
