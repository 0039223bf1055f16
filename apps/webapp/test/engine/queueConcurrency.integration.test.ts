/**
 * Per-queue concurrency limits (docs/decisions/093-run-lifecycle-timers.md "Queues"): two workers on
 * their own connection pools claim from the same database; a queue limited to one run never has two
 * of its runs EXECUTING at once, as each run sees in the database when it starts. The same burst on a
 * queue without a limit does overlap, so the check can fail.
 */
import { tasks as sdkTasks } from "@trigger.dev/sdk";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { TaskDefinition } from "@runfeed/sdk";
import { RunWorker } from "../../app/worker/runWorker.server.js";
import { TaskRegistry } from "../../app/worker/taskRegistry.server.js";
import { LIFECYCLE_TIMING, startLifecycleApp, type LifecycleApp } from "./support.js";

/** The most runs of each queue seen EXECUTING (in the database) by a run of it as it started. */
const mostExecuting = new Map<string, number>();

let lc: LifecycleApp;
const prisma = () => lc.app.webapp.services.prisma;

/** A task that reads how many runs of its own queue are EXECUTING, then works for a while. */
function probe(id: string, queue?: TaskDefinition["queue"]): TaskDefinition<unknown, null> {
  return {
    id,
    description: `queue probe ${id}`,
    queue,
    async run(_payload, ctx) {
      const { queue } = await prisma().taskRun.findUniqueOrThrow({ where: { id: ctx.run.id } });
      const executing = await prisma().taskRun.count({ where: { queue, status: "EXECUTING" } });
      const key = queue ?? "";
      mostExecuting.set(key, Math.max(mostExecuting.get(key) ?? 0, executing));
      await ctx.sleep(150);
      return null;
    },
  };
}

const limited = probe("queue-probe-limited", { concurrencyLimit: 1 });
const unlimited = probe("queue-probe-unlimited");
const named = probe("queue-probe-named");
const probes = [limited, unlimited, named];

let secondPool: pg.Pool;
let second: RunWorker;

beforeAll(async () => {
  lc = await startLifecycleApp({ tasks: probes, concurrency: 4 });
  const { logger, metadataWriter } = lc.app.webapp.services;
  // Another worker with connections of its own, as a second worker process has.
  secondPool = new pg.Pool({ connectionString: lc.app.database.url, max: 2 });
  second = new RunWorker({
    prisma: prisma(),
    pool: secondPool,
    logger,
    metadataWriter,
    tasks: new TaskRegistry(probes),
    concurrency: 4,
    pollIntervalMs: 50,
    heartbeatIntervalMs: LIFECYCLE_TIMING.heartbeatIntervalMs,
    cancelGracePeriodMs: LIFECYCLE_TIMING.cancelGracePeriodMs,
  });
  second.start();
}, 120_000);

afterAll(async () => {
  await second?.stop();
  await secondPool?.end();
  await lc?.close();
});

/** Waits until every run in `ids` has finished, answering their statuses. */
const finished = (ids: string[]) =>
  vi.waitFor(
    async () => {
      const rows = await prisma().taskRun.findMany({ where: { friendlyId: { in: ids } } });
      if (rows.length !== ids.length || rows.some((run) => run.completedAt === null)) throw new Error("still running");
      return rows.map((run) => run.status);
    },
    { timeout: 30_000, interval: 50 },
  );

const burst = async (taskId: string, count: number, options?: { queue?: string }) =>
  Promise.all(Array.from({ length: count }, (_, i) => sdkTasks.trigger(taskId, { i }, options).then((h) => h.id)));

describe("per-queue concurrency limits", () => {
  it("a task definition's limit of 1: never two runs of its queue executing at once across two workers", async () => {
    const ids = await burst(limited.id, 6);
    expect(new Set(await finished(ids))).toEqual(new Set(["COMPLETED_SUCCESSFULLY"]));
    expect(mostExecuting.get(`task/${limited.id}`)).toBe(1);
    const queue = await prisma().taskQueue.findFirstOrThrow({ where: { name: `task/${limited.id}` } });
    expect(queue).toMatchObject({ concurrencyLimit: 1, executing: 0 });
  }, 60_000);

  it("the same burst without a limit executes side by side (the check above can fail)", async () => {
    const ids = await burst(unlimited.id, 6);
    expect(new Set(await finished(ids))).toEqual(new Set(["COMPLETED_SUCCESSFULLY"]));
    expect(mostExecuting.get(`task/${unlimited.id}`)).toBeGreaterThan(1);
  }, 60_000);

  it("a trigger's options.queue.concurrencyLimit limits the named queue it sends runs to", async () => {
    const environment = lc.app.project.environments.find((e) => e.slug === "prod")!;
    const trigger = (body: unknown) =>
      fetch(`${lc.app.url}/api/v1/tasks/${named.id}/trigger`, {
        method: "POST",
        headers: { authorization: `Bearer ${environment.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const responses = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        trigger({ payload: { i }, options: { queue: { name: "one-by-one", concurrencyLimit: 1 } } }),
      ),
    );
    const ids = await Promise.all(responses.map(async (response) => ((await response.json()) as { id: string }).id));
    expect(new Set(await finished(ids))).toEqual(new Set(["COMPLETED_SUCCESSFULLY"]));
    expect(mostExecuting.get("one-by-one")).toBe(1);

    const bad = await trigger({ payload: {}, options: { queue: { name: "one-by-one", concurrencyLimit: -1 } } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(await bad.json())).toContain("concurrencyLimit");
  }, 60_000);
});
