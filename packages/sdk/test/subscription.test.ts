/**
 * Subscription lifecycle (SPEC.md S1–S6) against a real local HTTP server speaking the Electric
 * protocol (@runfeed/devstack/fixtures, scripted-feed.ts): emission per change, self-ending on completion, unsubscribe and
 * caller-signal aborts cancel the in-flight request, typed terminal errors, retry of transient ones.
 */
import { describe, expect, vi } from "vitest";
import {
  AuthenticationError,
  MissingRealtimeHeadersError,
  NotFoundError,
  PermissionDeniedError,
  runs,
  STATUS_ONLY_SKIP_COLUMNS,
  type RealtimeRun,
} from "../src/index.js";
import { feedTest, wireRun, type ScriptedFeed } from "@runfeed/devstack/fixtures";

// The scripted feed answers long-polls (SSE and its fallback: sdk.integration.test.ts).
const opts = (feed: ScriptedFeed) => ({ baseURL: feed.baseURL, accessToken: "token-a", liveSse: false });

async function collect<T>(iterable: AsyncIterable<T>, onEach?: (value: T, index: number) => void): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) {
    onEach?.(value, out.length);
    out.push(value);
  }
  return out;
}

describe("runs.subscribeToRun", () => {
  feedTest(
    "emits the run per change, in order, and ends by itself once it finished (no request after)",
    async ({ feed }) => {
      feed.snapshot = [wireRun()];
      const subscription = runs.subscribeToRun("run_1", opts(feed));
      const seen = collect(subscription, (run, i) => {
        if (i === 0)
          feed.push([
            wireRun({
              status: "EXECUTING",
              startedAt: "2026-06-06T10:00:01.000",
              updatedAt: "2026-06-06T10:00:01.000",
            }),
          ]);
        if (i === 1)
          feed.push([
            wireRun({
              status: "COMPLETED_SUCCESSFULLY",
              output: '{"ok":true}',
              completedAt: "2026-06-06T10:00:02.000",
              updatedAt: "2026-06-06T10:00:02.000",
            }),
          ]);
      });
      const result = await seen;
      expect(result.map((r) => r.status)).toEqual(["QUEUED", "EXECUTING", "COMPLETED"]);
      expect(result[2]).toMatchObject({ isCompleted: true, isSuccess: true, output: { ok: true } });
      expect(result[2]!.finishedAt).toEqual(new Date("2026-06-06T10:00:02.000Z"));
      expect(subscription.state.kind).toBe("completed");
      // Three answered requests (snapshot + two live); anything the client started after the completing
      // response was aborted (S3).
      await vi.waitFor(() => expect(feed.pendingLive()).toBe(0));
      expect(feed.requests.filter((r) => !r.aborted)).toHaveLength(3);
      expect(feed.requests.slice(3).every((r) => r.aborted)).toBe(true);
      expect(feed.requests[0]!.url.pathname).toBe("/realtime/v1/runs/run_1");
      expect(feed.requests[0]!.authorization).toBe("Bearer token-a");
    },
  );

  feedTest("ends after one emission when the run already finished", async ({ feed }) => {
    feed.snapshot = [wireRun({ status: "CANCELED", completedAt: "2026-06-06T10:00:02.000" })];
    const result = await collect(runs.subscribeToRun("run_1", opts(feed)));
    expect(result).toHaveLength(1);
    expect(result[0]).toMatchObject({ status: "CANCELED", isCancelled: true, isCompleted: false });
    expect(feed.requests).toHaveLength(1);
  });

  feedTest("keeps going after completion with stopOnCompletion: false", async ({ feed }) => {
    feed.snapshot = [wireRun({ status: "COMPLETED_SUCCESSFULLY", completedAt: "2026-06-06T10:00:02.000" })];
    const subscription = runs.subscribeToRun("run_1", { ...opts(feed), stopOnCompletion: false });
    const first = await subscription[Symbol.asyncIterator]().next();
    expect(first.value).toMatchObject({ status: "COMPLETED" });
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
    subscription.unsubscribe();
  });

  feedTest("unsubscribe() aborts the pending live request and ends the iterator", async ({ feed }) => {
    feed.snapshot = [wireRun()];
    const subscription = runs.subscribeToRun("run_1", opts(feed));
    const result = collect(subscription);
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
    subscription.unsubscribe();
    expect(await result).toHaveLength(1);
    await vi.waitFor(() => expect(feed.requests.at(-1)!.aborted).toBe(true));
    expect(subscription.state.kind).toBe("unsubscribed");
  });

  feedTest("follows the caller's AbortSignal, and break stops the feed", async ({ feed }) => {
    feed.snapshot = [wireRun()];
    const controller = new AbortController();
    const subscription = runs.subscribeToRun("run_1", { ...opts(feed), signal: controller.signal });
    const result = collect(subscription);
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
    controller.abort();
    expect(await result).toHaveLength(1);
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(0));

    const second = runs.subscribeToRun("run_1", opts(feed));
    for await (const run of second) {
      expect(run.status).toBe("QUEUED");
      break;
    }
    expect(second.state.kind).toBe("unsubscribed");
  });

  feedTest("sends the per-call token and the status-only column list", async ({ feed }) => {
    feed.snapshot = [wireRun({ status: "COMPLETED_SUCCESSFULLY", completedAt: "2026-06-06T10:00:02.000" })];
    await collect(runs.subscribeToRun("run_1", { ...opts(feed), accessToken: "token-b", skipColumns: "status-only" }));
    expect(feed.requests[0]!.authorization).toBe("Bearer token-b");
    expect(feed.requests[0]!.url.searchParams.get("skipColumns")).toBe(STATUS_ONLY_SKIP_COLUMNS.join(","));
  });

  feedTest.for([
    [401, AuthenticationError],
    [403, PermissionDeniedError],
    [404, NotFoundError],
  ] as const)("a %i ends the iterator with %o and makes no further request", async ([status, ErrorClass], { feed }) => {
    feed.failNext(status, { error: "nope" });
    const subscription = runs.subscribeToRun("run_1", opts(feed));
    const error = await collect(subscription).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ErrorClass);
    expect((error as Error).message).toContain("nope");
    expect(subscription.state).toMatchObject({ kind: "errored" });
    expect(feed.requests).toHaveLength(1);
  });

  feedTest("retries 503 and 429 with backoff and then delivers", async ({ feed }) => {
    feed.snapshot = [wireRun({ status: "COMPLETED_SUCCESSFULLY", completedAt: "2026-06-06T10:00:02.000" })];
    feed.failNext(503);
    feed.failNext(429);
    const result = await collect(runs.subscribeToRun("run_1", opts(feed)));
    expect(result.map((r) => r.status)).toEqual(["COMPLETED"]);
    expect(feed.requests).toHaveLength(3);
  });

  feedTest("reports missing Electric headers as MissingRealtimeHeadersError", async ({ feed }) => {
    feed.snapshot = [wireRun()];
    feed.dropHeadersNext();
    const error = await collect(runs.subscribeToRun("run_1", opts(feed))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingRealtimeHeadersError);
    expect((error as Error).message).toMatch(/access-control-expose-headers/);
  });

  feedTest("delivers to an observer attached later (backlog replay) and to every observer", async ({ feed }) => {
    feed.snapshot = [wireRun({ status: "COMPLETED_SUCCESSFULLY", completedAt: "2026-06-06T10:00:02.000" })];
    const subscription = runs.subscribeToRun("run_1", opts(feed));
    await vi.waitFor(() => expect(subscription.state.kind).toBe("completed"));
    const a: RealtimeRun[] = [];
    let completed = 0;
    subscription.subscribe({ next: (run) => a.push(run), complete: () => completed++ });
    subscription.subscribe({ complete: () => completed++ });
    expect(a.map((r) => r.status)).toEqual(["COMPLETED"]);
    expect(completed).toBe(2);
  });
});

describe("runs.subscribeToRunsWithTag and subscribeToBatch", () => {
  feedTest("emits every matching run, never ends by itself, and sends tags and createdAt", async ({ feed }) => {
    feed.snapshot = [
      wireRun({ id: "a", friendlyId: "run_a" }),
      wireRun({
        id: "b",
        friendlyId: "run_b",
        completedAt: "2026-06-06T10:00:02.000",
        status: "COMPLETED_SUCCESSFULLY",
      }),
    ];
    const subscription = runs.subscribeToRunsWithTag(["user:1", "env:prod"], { ...opts(feed), createdAt: "1h" });
    const seen: string[] = [];
    for await (const run of subscription) {
      seen.push(`${run.id}:${run.status}`);
      if (seen.length === 2) feed.push([wireRun({ id: "a", friendlyId: "run_a", status: "EXECUTING" })]);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(["run_a:QUEUED", "run_b:COMPLETED", "run_a:EXECUTING"]);
    const url = feed.requests[0]!.url;
    expect(url.pathname).toBe("/realtime/v1/runs");
    expect(url.searchParams.get("tags")).toBe("user:1,env:prod");
    expect(url.searchParams.get("createdAt")).toBe("1h");
  });

  feedTest("subscribes to a batch by its friendly id", async ({ feed }) => {
    feed.snapshot = [wireRun({ completedAt: "2026-06-06T10:00:02.000", status: "COMPLETED_SUCCESSFULLY" })];
    const subscription = runs.subscribeToBatch("batch_1", opts(feed));
    const first = await subscription[Symbol.asyncIterator]().next();
    expect(first.value).toMatchObject({ id: "run_1", status: "COMPLETED" });
    expect(feed.requests[0]!.url.pathname).toBe("/realtime/v1/batches/batch_1");
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
    subscription.unsubscribe();
  });
});
