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
      expect(published.rows.map((r) => r.tablename)).toEqual(["TaskRun"]);
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
});
