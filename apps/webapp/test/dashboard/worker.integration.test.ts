import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sampleCsv } from "@runfeed/example-tasks";
import { claimRuns } from "../../app/worker/claim.server.js";
import { RunWorker } from "../../app/worker/runWorker.server.js";
import { triggerRun } from "../../app/services/trigger.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";

describe("example worker", () => {
  let app: TestWebapp;
  let worker: RunWorker;
  beforeAll(async () => {
    app = await startTestWebapp();
    const { prisma, sqlPool, logger, metadataWriter, tasks } = app.webapp.services;
    worker = new RunWorker({ prisma, pool: sqlPool, logger, metadataWriter, tasks, pollIntervalMs: 50 });
  });
  afterAll(async () => {
    await worker.stop();
    await app.close();
  });

  const env = (slug: string) => {
    const environment = app.project.environments.find((e) => e.slug === slug)!;
    return { id: environment.id, projectId: app.project.projectId, type: environment.type };
  };
  const trigger = (slug: string, taskId: string, payload: unknown) =>
    triggerRun(app.webapp.services.prisma, {
      environment: env(slug),
      taskId,
      body: { payload, options: {} },
      metadataMaximumSize: 262_144,
    }).then((result) => result.run);

  it("claims fairly across environments with FOR UPDATE SKIP LOCKED", async () => {
    const { prisma, sqlPool } = app.webapp.services;
    for (let i = 0; i < 6; i++) await trigger("prod", "nobody", { i });
    await trigger("staging", "nobody", { i: 0 });
    // Two concurrent claims never return the same run; the quiet environment is served in the first round.
    const [first, second] = await Promise.all([claimRuns(sqlPool, 2), claimRuns(sqlPool, 2)]);
    const ids = [...first, ...second].map((run) => run.id);
    expect(new Set(ids).size).toBe(ids.length);
    const firstEnvs = new Set(first.map((run) => run.runtimeEnvironmentId));
    const secondEnvs = new Set(second.map((run) => run.runtimeEnvironmentId));
    expect(firstEnvs.has(env("staging").id) || secondEnvs.has(env("staging").id)).toBe(true);
    await prisma.taskRun.deleteMany({ where: { taskIdentifier: "nobody" } });
  });

  it("does not let a backlog in one queue starve a newer run of another task", async () => {
    const { prisma, sqlPool } = app.webapp.services;
    for (let i = 0; i < 5; i++) await trigger("prod", "backlog", { i });
    const late = await trigger("prod", "late-task", {});
    const claimed = await claimRuns(sqlPool, 2);
    expect(claimed.map((run) => run.taskIdentifier).sort()).toEqual(["backlog", "late-task"]);
    expect(claimed.find((run) => run.taskIdentifier === "late-task")!.id).toBe(late.id);
    await prisma.taskRun.deleteMany({ where: { taskIdentifier: { in: ["backlog", "late-task"] } } });
  });

  it("runs the CSV import: children increment the parent's progress, statuses and output are recorded", async () => {
    const { prisma } = app.webapp.services;
    const parent = await trigger("dev", "csv-import", {
      filename: "customers.csv",
      csv: sampleCsv(60),
      batchSize: 10,
      rowDelayMs: 5,
    });
    worker.start();
    worker.wake();

    const seenProgress = new Set<number>();
    await vi.waitFor(
      async () => {
        const row = await prisma.taskRun.findUniqueOrThrow({ where: { id: parent.id } });
        const metadata = row.metadata ? JSON.parse(row.metadata) : {};
        if (typeof metadata.processed === "number") seenProgress.add(metadata.processed);
        expect(row.status).toBe("COMPLETED_SUCCESSFULLY");
      },
      { timeout: 20_000, interval: 20 },
    );
    const done = await prisma.taskRun.findUniqueOrThrow({ where: { id: parent.id } });
    expect(done.startedAt).toBeInstanceOf(Date);
    expect(done.completedAt!.getTime()).toBeGreaterThanOrEqual(done.startedAt!.getTime());
    expect(JSON.parse(done.metadata!)).toMatchObject({ total: 60, processed: 60, stage: "done", batches: 6 });
    expect(JSON.parse(done.output!)).toEqual({
      filename: "customers.csv",
      total: 60,
      processed: 60,
      invalid: 1,
      batches: 6,
      failedBatches: 0,
    });
    // Progress was observed climbing, not only at the end.
    expect([...seenProgress].some((value) => value > 0 && value < 60)).toBe(true);

    // The task logged what it did, and every line was stored before the run was recorded as finished.
    const logs = await prisma.taskRunLog.findMany({
      where: { runId: parent.id },
      orderBy: [{ time: "asc" }, { seq: "asc" }],
    });
    expect(logs.map((l) => [l.kind, l.level, l.message])).toEqual([
      ["log", "info", "Parsed customers.csv"],
      ["event", "info", "batch-triggered"],
      ["log", "info", "Import finished"],
    ]);
    expect(logs[0]!.attributes).toEqual({ rows: 60, columns: 5 });
    expect(logs.every((l) => l.runtimeEnvironmentId === parent.runtimeEnvironmentId)).toBe(true);
    expect(logs.at(-1)!.createdAt.getTime()).toBeLessThanOrEqual(done.completedAt!.getTime());

    const children = await prisma.taskRun.findMany({ where: { parentTaskRunId: parent.id } });
    expect(children).toHaveLength(6);
    const childLogs = await prisma.taskRunLog.findMany({ where: { runId: { in: children.map((c) => c.id) } } });
    expect(childLogs.filter((l) => l.message === "Batch done")).toHaveLength(6);
    expect(childLogs.filter((l) => l.level === "warn" && l.message.endsWith("invalid email"))).toHaveLength(1);
    expect(
      children.every(
        (child) => child.status === "COMPLETED_SUCCESSFULLY" && child.batchId && child.rootTaskRunId === parent.id,
      ),
    ).toBe(true);
  });

  it("leaves a run canceled while it executes canceled", async () => {
    const { prisma } = app.webapp.services;
    const run = await trigger("dev", "hello-world", { delayMs: 800 });
    worker.wake();
    await vi.waitFor(
      async () => expect((await prisma.taskRun.findUniqueOrThrow({ where: { id: run.id } })).status).toBe("EXECUTING"),
      {
        timeout: 10_000,
        interval: 20,
      },
    );
    await prisma.taskRun.update({ where: { id: run.id }, data: { status: "CANCELED", completedAt: new Date() } });
    await worker.settled();
    expect((await prisma.taskRun.findUniqueOrThrow({ where: { id: run.id } })).status).toBe("CANCELED");
  });

  it("records a thrown error as valid TaskRunError JSON and unknown tasks as system failures", async () => {
    const { prisma } = app.webapp.services;
    const failing = await trigger("dev", "hello-world", { fail: true, delayMs: 1 });
    const unknown = await trigger("dev", "does-not-exist", {});
    worker.wake();
    await vi.waitFor(
      async () => {
        const rows = await prisma.taskRun.findMany({ where: { id: { in: [failing.id, unknown.id] } } });
        expect(rows.every((row) => row.completedAt !== null)).toBe(true);
      },
      { timeout: 10_000, interval: 50 },
    );
    const failed = await prisma.taskRun.findUniqueOrThrow({ where: { id: failing.id } });
    expect(failed.status).toBe("COMPLETED_WITH_ERRORS");
    const failedLogs = await prisma.taskRunLog.findMany({
      where: { runId: failing.id },
      orderBy: [{ time: "asc" }, { seq: "asc" }],
    });
    expect(failedLogs.map((l) => [l.level, l.message])).toEqual([
      ["info", "Waiting before greeting"],
      ["error", expect.stringContaining("asked to fail")],
    ]);
    expect(failed.error).toMatchObject({
      type: "BUILT_IN_ERROR",
      name: "Error",
      message: expect.stringContaining("asked to fail"),
    });
    const missing = await prisma.taskRun.findUniqueOrThrow({ where: { id: unknown.id } });
    expect(missing.status).toBe("SYSTEM_FAILURE");
    expect(missing.error).toMatchObject({ type: "INTERNAL_ERROR", code: "COULD_NOT_FIND_TASK" });
  });
});
