import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { createTestDatabase, type TestDatabase } from "../src/test-context.js";
import { createPrismaClient, migrate } from "@runfeed/database";

describe("migrations", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it("are recorded and not applied twice", async () => {
    const result = await migrate(db.url);
    expect(result.applied).toEqual([]);
    expect(result.skipped.length).toBeGreaterThanOrEqual(2);
  });

  it("make TaskRun REPLICA IDENTITY FULL and publish it", async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const identity = await client.query(`SELECT relreplident FROM pg_class WHERE relname = 'TaskRun'`);
      expect(identity.rows[0].relreplident).toBe("f");
      const published = await client.query(
        `SELECT tablename FROM pg_publication_tables WHERE pubname = 'electric_publication_default'`,
      );
      expect(published.rows.map((r) => r.tablename).sort()).toEqual(["TaskRun", "TaskRunLog"]);
      const logIdentity = await client.query(`SELECT relreplident FROM pg_class WHERE relname = 'TaskRunLog'`);
      expect(logIdentity.rows[0].relreplident).toBe("f");
      const columns = await client.query(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'TaskRun' AND column_name IN ('createdAt','runTags','error')`,
      );
      const types = Object.fromEntries(columns.rows.map((r) => [r.column_name, r.data_type]));
      expect(types).toEqual({ createdAt: "timestamp without time zone", runTags: "ARRAY", error: "jsonb" });
    } finally {
      await client.end();
    }
  });

  it("match the Prisma schema closely enough for the client to round-trip a run", async () => {
    const prisma = createPrismaClient(db.url);
    try {
      const org = await prisma.organization.create({ data: { slug: "o", title: "O" } });
      const project = await prisma.project.create({ data: { slug: "p", name: "P", organizationId: org.id } });
      const env = await prisma.runtimeEnvironment.create({
        data: {
          slug: "dev",
          type: "DEVELOPMENT",
          apiKey: "tr_dev_abcdefghijklmnopqrstuvwx",
          projectId: project.id,
          organizationId: org.id,
        },
      });
      const run = await prisma.taskRun.create({
        data: {
          friendlyId: "run_1",
          taskIdentifier: "t",
          payload: "{}",
          runTags: ["a", "b"],
          runtimeEnvironmentId: env.id,
          projectId: project.id,
          error: { type: "STRING_ERROR", raw: "x" },
        },
      });
      const read = await prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: "run_1" } });
      expect(read.runTags).toEqual(["a", "b"]);
      expect(read.realtimeStreams).toEqual([]);
      expect(read.status).toBe("PENDING");
      expect(read.id).toBe(run.id);
    } finally {
      await prisma.$disconnect();
    }
  });

  it("delete a run's attempts with the run, also through its environment; unique keys refuse duplicates, not NULLs", async () => {
    const prisma = createPrismaClient(db.url);
    try {
      const org = await prisma.organization.create({ data: { slug: "o-attempts", title: "O" } });
      const project = await prisma.project.create({ data: { slug: "p-attempts", name: "P", organizationId: org.id } });
      const env = await prisma.runtimeEnvironment.create({
        data: {
          slug: "dev",
          type: "DEVELOPMENT",
          apiKey: "tr_dev_attemptsattemptsattempts",
          projectId: project.id,
          organizationId: org.id,
        },
      });
      const run = (n: number, keys: { idempotencyKey?: string; oneTimeUseToken?: string } = {}) =>
        prisma.taskRun.create({
          data: {
            friendlyId: `run_attempts_${n}`,
            taskIdentifier: "t",
            payload: "{}",
            runtimeEnvironmentId: env.id,
            projectId: project.id,
            ...keys,
          },
        });
      const first = await run(1, { idempotencyKey: "k", oneTimeUseToken: "token" });
      const second = await run(2);
      await run(3); // NULL key and token again
      await expect(run(4, { idempotencyKey: "k" })).rejects.toMatchObject({ code: "P2002" });
      await expect(run(5, { oneTimeUseToken: "token" })).rejects.toMatchObject({ code: "P2002" });
      await prisma.taskRunAttempt.createMany({
        data: [
          { runId: first.id, number: 1, workerId: "w" },
          { runId: first.id, number: 2, workerId: "w" },
          { runId: second.id, number: 1, workerId: "w" },
        ],
      });
      await prisma.taskRun.delete({ where: { id: first.id } });
      expect(await prisma.taskRunAttempt.findMany({ select: { runId: true } })).toEqual([{ runId: second.id }]);
      await prisma.runtimeEnvironment.delete({ where: { id: env.id } });
      expect(await prisma.taskRunAttempt.count()).toBe(0);
    } finally {
      await prisma.$disconnect();
    }
  });

  it("give TaskRunLog a Prisma round trip, a per-item key that refuses duplicates and checked kinds and levels", async () => {
    const prisma = createPrismaClient(db.url);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const time = new Date("2026-12-06T10:00:00.123Z");
      await prisma.taskRunLog.create({
        data: { id: "p0:1-0:0", runId: "r1", runtimeEnvironmentId: "e1", message: "hello", time },
      });
      const read = await prisma.taskRunLog.findUniqueOrThrow({ where: { id: "p0:1-0:0" } });
      expect(read).toMatchObject({ kind: "log", level: "info", attributes: {}, seq: 0, time });
      // The drain's re-apply after a crash between COMMIT and XACK: the same key inserts nothing.
      const again = await client.query(
        `INSERT INTO "TaskRunLog" ("id","runId","runtimeEnvironmentId","message","time") VALUES ($1,'r1','e1','dup',now())
         ON CONFLICT ("id") DO NOTHING`,
        ["p0:1-0:0"],
      );
      expect(again.rowCount).toBe(0);
      await expect(
        client.query(
          `INSERT INTO "TaskRunLog" ("id","runId","runtimeEnvironmentId","level","message","time") VALUES ('x','r1','e1','fatal','m',now())`,
        ),
      ).rejects.toThrow(/TaskRunLog_level_check/);
      await expect(
        client.query(
          `INSERT INTO "TaskRunLog" ("id","runId","runtimeEnvironmentId","kind","message","time") VALUES ('y','r1','e1','span','m',now())`,
        ),
      ).rejects.toThrow(/TaskRunLog_kind_check/);
      const index = await client.query(
        `SELECT indexdef FROM pg_indexes WHERE indexname = 'TaskRunLog_runId_time_seq_idx'`,
      );
      expect(index.rows[0].indexdef).toContain(`("runId", "time", seq)`);
    } finally {
      await client.end();
      await prisma.$disconnect();
    }
  });
});
