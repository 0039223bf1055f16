/**
 * The run lifecycle as the unmodified @trigger.dev/sdk 4.8.3 sees it through runfeed's realtime routes
 * (docs/decisions/093-run-lifecycle-timers.md): delays and reschedules, TTL expiry, retries, cancel,
 * maxDuration and debounce, each driven by the durable timers and a worker in this process.
 */
import { runs, tasks } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { exampleTasks, sleepy } from "@runfeed/example-tasks";
import type { TaskDefinition } from "@runfeed/sdk";
import {
  backwardSteps,
  containsInOrder,
  startLifecycleApp,
  statusesOf,
  watchRun,
  type LifecycleApp,
} from "./support.js";

/** Runs of `sleepy` whose signal fired, by run id, with the reason's message. */
const signalled = new Map<string, string>();
const watchedSleepy: TaskDefinition<{ seconds?: number }, { slept: number }> = {
  ...sleepy,
  run(payload, ctx) {
    ctx.signal.addEventListener("abort", () =>
      signalled.set(ctx.run.friendlyId, String((ctx.signal.reason as Error)?.message)),
    );
    return sleepy.run(payload, ctx);
  },
};

let lc: LifecycleApp;
const prisma = () => lc.app.webapp.services.prisma;
const row = (friendlyId: string) => prisma().taskRun.findUniqueOrThrow({ where: { friendlyId } });

beforeAll(async () => {
  lc = await startLifecycleApp({
    tasks: [...exampleTasks.filter((task) => task.id !== sleepy.id), watchedSleepy],
    concurrency: 2,
  });
  // The first feed of a fresh shape server is slow to start; open one so the tests see every step.
  await watchRun((await tasks.trigger("hello-world", { delayMs: 10 })).id);
}, 120_000);

afterAll(async () => {
  await lc?.close();
});

describe("run lifecycle through the official SDK", () => {
  it("delayed → queued → executing → completed (rescheduled once the feed is open), with delayUntil and queuedAt", async () => {
    const handle = await tasks.trigger("hello-world", { name: "later", delayMs: 300 }, { delay: "1h" });
    let rescheduledAt = 0;
    const steps = await watchRun(handle.id, {
      onOpen: async () => {
        rescheduledAt = Date.now();
        const rescheduled = await runs.reschedule(handle.id, { delay: "1s" });
        expect(rescheduled.status).toBe("DELAYED");
      },
    });
    // QUEUED lasts only until the worker claims the run: the feed may fold it into the next update.
    expect(["DELAYED,QUEUED,EXECUTING,COMPLETED", "DELAYED,EXECUTING,COMPLETED"]).toContain(statusesOf(steps).join());
    const run = await row(handle.id);
    expect(run.delayUntil!.getTime()).toBeGreaterThanOrEqual(rescheduledAt + 900);
    expect(run.queuedAt!.getTime()).toBeGreaterThanOrEqual(run.delayUntil!.getTime());
    expect(run.output).toBe(JSON.stringify({ greeting: "Hello, later!" }));
    expect(backwardSteps(steps)).toEqual([]);
  });

  it("a delay that passes queues the run; a run no longer delayed cannot be rescheduled", async () => {
    const handle = await tasks.trigger("hello-world", { delayMs: 10 }, { delay: "1s" });
    const steps = await watchRun(handle.id);
    expect(statusesOf(steps).at(-1)).toBe("COMPLETED");
    expect((await row(handle.id)).delayUntil!.getTime()).toBeLessThan(Date.now());
    await expect(runs.reschedule(handle.id, { delay: "1s" })).rejects.toMatchObject({ status: 422 });
  });

  it("flaky-once → REATTEMPTING → COMPLETED with attemptCount 2", async () => {
    // Held back until the feed is open, so it sees the first attempt start.
    const handle = await tasks.trigger("flaky-once", { message: "second time lucky" }, { delay: "1h" });
    const steps = await watchRun(handle.id, { onOpen: () => runs.reschedule(handle.id, { delay: "1s" }) });
    // REATTEMPTING is RETRYING_AFTER_FAILURE in the row, shown by the SDK as EXECUTING with the attempt's error.
    expect(
      containsInOrder(steps, [
        ["DELAYED", false],
        ["EXECUTING", false],
        ["EXECUTING", true],
        ["COMPLETED", false],
      ]),
      JSON.stringify(steps),
    ).toBe(true);
    expect(steps.at(-1)).toEqual({ status: "COMPLETED", attemptError: false, finished: true });
    const run = await runs.retrieve(handle.id);
    expect(run.attemptCount).toBe(2);
    expect(run.output).toEqual({ attempt: 2, message: "second time lucky" });
    const attempts = await prisma().taskRunAttempt.findMany({
      where: { run: { friendlyId: handle.id } },
      orderBy: { number: "asc" },
    });
    expect(attempts.map((a) => a.status)).toEqual(["FAILED", "COMPLETED"]);
    expect(backwardSteps(steps)).toEqual([]);
  });

  it("a run still queued when its TTL passes becomes EXPIRED; cancel fires the task's signal", async () => {
    // Both worker slots busy with sleepy runs, so the next run stays queued.
    const busy = [await tasks.trigger("sleepy", { seconds: 30 }), await tasks.trigger("sleepy", { seconds: 30 })];
    await vi.waitFor(
      async () => {
        for (const handle of busy) expect((await row(handle.id)).status).toBe("EXECUTING");
      },
      { timeout: 10_000, interval: 50 },
    );
    try {
      // The TTL counts from when the run is queued: held DELAYED until the feed is open, then queued.
      const waiting = await tasks.trigger("hello-world", {}, { ttl: "1s", delay: "1h" });
      const steps = await watchRun(waiting.id, { onOpen: () => runs.reschedule(waiting.id, { delay: "1s" }) });
      expect(statusesOf(steps)).toEqual(["DELAYED", "QUEUED", "EXPIRED"]);
      const expired = await row(waiting.id);
      expect(expired.expiredAt).toBeInstanceOf(Date);
      expect(expired.startedAt).toBeNull();
      // The TTL counts from when the run became due.
      expect(expired.expiredAt!.getTime() - expired.delayUntil!.getTime()).toBeGreaterThanOrEqual(1_000);
      expect(expired.error).toEqual({ type: "STRING_ERROR", raw: "Run expired because the TTL (1s) was reached" });

      const canceled = busy[0]!;
      const feed = await watchRun(canceled.id, { onOpen: () => runs.cancel(canceled.id) });
      expect(statusesOf(feed)).toEqual(["EXECUTING", "CANCELED"]);
      await vi.waitFor(() => expect(signalled.get(canceled.id)).toBe("The run was canceled."), {
        timeout: 5_000,
        interval: 50,
      });
    } finally {
      for (const handle of busy) await runs.cancel(handle.id);
    }
  });

  it("maxDuration exceeded → TIMED_OUT with MAX_DURATION_EXCEEDED", async () => {
    const handle = await tasks.trigger("sleepy", { seconds: 30 }, { maxDuration: 2, delay: "1h" });
    const steps = await watchRun(handle.id, { onOpen: () => runs.reschedule(handle.id, { delay: "1s" }) });
    expect(
      containsInOrder(steps, [
        ["DELAYED", false],
        ["EXECUTING", false],
        ["TIMED_OUT", true],
      ]),
    ).toBe(true);
    const run = await row(handle.id);
    expect(run.error).toMatchObject({ type: "INTERNAL_ERROR", code: "MAX_DURATION_EXCEEDED" });
    expect(run.completedAt!.getTime() - run.startedAt!.getTime()).toBeGreaterThanOrEqual(2_000);
    await vi.waitFor(() => expect(signalled.get(handle.id)).toBe("The run exceeded its maxDuration."), {
      timeout: 5_000,
      interval: 50,
    });
  });

  it("a debounced burst becomes one run, and each trigger's answer names it", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const handle = await tasks.trigger(
        "hello-world",
        { name: `burst-${i}` },
        { debounce: { key: "burst", delay: "1s", mode: "trailing" } },
      );
      ids.add(handle.id);
    }
    expect(ids.size).toBe(1);
    const [id] = [...ids] as [string];
    expect(statusesOf(await watchRun(id)).at(-1)).toBe("COMPLETED");
    expect((await runs.retrieve(id)).output).toEqual({ greeting: "Hello, burst-4!" });
    expect(await prisma().taskRun.count({ where: { debounceKey: "burst" } })).toBe(1);
    // Once the run left DELAYED, the same key starts a new run.
    const next = await tasks.trigger("hello-world", {}, { debounce: { key: "burst", delay: "1s" } });
    expect(next.id).not.toBe(id);
  });
});
