/**
 * Crash recovery and schedules with the worker in processes of its own (apps/webapp/server/worker.ts),
 * watched through the official @trigger.dev/sdk 4.8.3 (docs/decisions/093-run-lifecycle-timers.md):
 * kill -9 of a worker mid-run → the run is retried by the next worker, or CRASHED with a
 * TaskRunError when no attempts are left; a cron schedule fires once per tick with two workers.
 */
import { runs, schedules, tasks } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { backwardSteps, startLifecycleApp, statusesOf, watchRun, type LifecycleApp } from "./support.js";
import { spawnWorker, type WorkerProcess } from "./workerProcess.js";

let lc: LifecycleApp;
const workers: WorkerProcess[] = [];
const prisma = () => lc.app.webapp.services.prisma;
const row = (friendlyId: string) => prisma().taskRun.findUniqueOrThrow({ where: { friendlyId } });
const startWorker = () => {
  const worker = spawnWorker(lc.app);
  workers.push(worker);
  return worker;
};
const executingIn = async (friendlyId: string, attempt: number) =>
  vi.waitFor(
    async () => {
      const run = await row(friendlyId);
      expect([run.status, run.attemptCount]).toEqual(["EXECUTING", attempt]);
    },
    { timeout: 60_000, interval: 50 },
  );

beforeAll(async () => {
  lc = await startLifecycleApp({ inProcess: false });
}, 120_000);

afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await lc?.close();
});

describe("worker processes", () => {
  it("kill -9 mid-run: the next worker retries the run (attempts left), which then completes", async () => {
    let worker = startWorker();
    const handle = await tasks.trigger("sleepy", { seconds: 2 }, { maxAttempts: 2, delay: "1h" });
    const feed = watchRun(handle.id, { onOpen: () => runs.reschedule(handle.id, { delay: "1s" }) });
    await executingIn(handle.id, 1);
    expect(await worker.kill9()).toBe("SIGKILL");
    worker = startWorker();
    const steps = await feed;
    expect(statusesOf(steps).at(-1)).toBe("COMPLETED");
    expect(steps.some((step) => step.status === "EXECUTING" && step.attemptError)).toBe(true);
    expect(backwardSteps(steps)).toEqual([]);
    const run = await runs.retrieve(handle.id);
    expect(run.attemptCount).toBe(2);
    const attempts = await prisma().taskRunAttempt.findMany({ where: { runId: (await row(handle.id)).id } });
    expect(attempts.map((a) => a.status).sort()).toEqual(["COMPLETED", "CRASHED"]);
    await worker.stop();
  }, 120_000);

  it("crashy kills its worker on every attempt: CRASHED with TASK_RUN_HEARTBEAT_TIMEOUT once none are left", async () => {
    let worker = startWorker();
    const handle = await tasks.trigger("crashy", { afterMs: 300 }, { delay: "1h" });
    const feed = watchRun(handle.id, { onOpen: () => runs.reschedule(handle.id, { delay: "1s" }) });
    // crashy allows two attempts: each ends its worker, which the test restarts as `pnpm start` does.
    for (let attempt = 1; attempt <= 2; attempt++) {
      expect(await worker.exited).toBe("SIGKILL");
      worker = startWorker();
    }
    const steps = await feed;
    expect(statusesOf(steps).at(-1)).toBe("CRASHED");
    expect(backwardSteps(steps)).toEqual([]);
    const run = await row(handle.id);
    expect(run.attemptCount).toBe(2);
    expect(run.completedAt).toBeInstanceOf(Date);
    expect(run.error).toMatchObject({ type: "INTERNAL_ERROR", code: "TASK_RUN_HEARTBEAT_TIMEOUT" });
    await worker.stop();
  }, 120_000);

  it("a cron schedule in an IANA time zone fires exactly once per tick with two worker processes", async () => {
    startWorker();
    startWorker();
    const schedule = await schedules.create({
      task: "hello-world",
      cron: "*/2 * * * * *",
      timezone: "Asia/Kolkata",
      deduplicationKey: "every-two-seconds",
      externalId: "user_1",
    });
    expect(schedule.timezone).toBe("Asia/Kolkata");
    expect((await schedules.list()).data.map((s) => s.id)).toContain(schedule.id);
    const tag = `schedule:${schedule.id}`;
    await vi.waitFor(
      async () => expect(await prisma().taskRun.count({ where: { runTags: { has: tag } } })).toBeGreaterThanOrEqual(4),
      { timeout: 60_000, interval: 200 },
    );
    const fired = await prisma().taskRun.findMany({ where: { runTags: { has: tag } }, select: { payload: true } });
    const ticks = fired.map((run) => (JSON.parse(run.payload) as { timestamp: string }).timestamp);
    // One run per tick, ticks two seconds apart.
    expect(new Set(ticks).size).toBe(ticks.length);
    for (const tick of ticks) expect(new Date(tick).getUTCSeconds() % 2).toBe(0);
  }, 120_000);
});
