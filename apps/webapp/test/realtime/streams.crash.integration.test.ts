/**
 * The durability promise of realtime streams (docs/decisions/081-realtime-streams.md) against a webapp
 * process that is kill -9'd and started again on the same Postgres and Redis:
 * - every acknowledged append survives;
 * - a writer mid-pipe resumes against the new process where the server's copy ends: every chunk is
 *   stored exactly once, in order, and the stream then ends and is archived as usual.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createPrismaClient, type PrismaClient } from "@runfeed/database";
import { createTestDatabase, testRedisPrefix, testServices, type TestDatabase } from "@runfeed/devstack/test-context";
import { freePort } from "@runfeed/devstack";
import { streams } from "@runfeed/sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { seedProject } from "../../app/services/seed.server.js";

const ROOT = fileURLToPath(new URL("../../../..", import.meta.url));

let database: TestDatabase;
let prisma: PrismaClient;
let env: Record<string, string>;
let url: string;
let secretKey: string;
let webapp: ChildProcess | undefined;

async function startWebapp(): Promise<void> {
  const child = spawn(process.execPath, ["--import", "tsx", "apps/webapp/server/index.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "ignore", "inherit"],
  });
  webapp = child;
  await vi.waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`webapp exited (${child.exitCode})`);
      expect((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) })).ok).toBe(true);
    },
    { timeout: 60_000, interval: 200 },
  );
}

function killWebapp(): Promise<void> {
  const child = webapp!;
  webapp = undefined;
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

beforeAll(async () => {
  database = await createTestDatabase();
  prisma = createPrismaClient(database.url);
  const project = await seedProject(prisma, {
    orgSlug: "crash-org",
    orgTitle: "Crash Org",
    projectSlug: "crash",
    projectName: "Crash",
  });
  secretKey = project.environments.find((e) => e.slug === "dev")!.apiKey;
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  env = {
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: database.url,
    REDIS_URL: testServices().redisUrl,
    REDIS_KEY_PREFIX: testRedisPrefix(),
    WORKER_ENABLED: "false",
    REALTIME_STREAM_SWEEP_INTERVAL_MS: "200",
    REALTIME_STREAM_IDLE_TIMEOUT_MS: "120000",
  };
  await startWebapp();
}, 120_000);

afterAll(async () => {
  if (webapp) await killWebapp();
  await prisma?.$disconnect();
  await database?.drop();
});

async function triggerRun(): Promise<{ id: string; internalId: string }> {
  const response = await fetch(`${url}/api/v1/tasks/crash-task/trigger`, {
    method: "POST",
    headers: { authorization: `Bearer ${secretKey}`, "content-type": "application/json" },
    body: JSON.stringify({ payload: "{}" }),
  });
  const { id } = (await response.json()) as { id: string };
  const run = await prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: id } });
  return { id, internalId: run.id };
}

async function* numbered(count: number, delayMs: number) {
  for (let i = 0; i < count; i++) {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    yield { i };
  }
}

describe("realtime streams across a kill -9 of the webapp", () => {
  it("keeps every acknowledged chunk, and a writer mid-pipe resumes exactly where the server's copy ends", {
    timeout: 240_000,
  }, async () => {
    const server = { baseURL: url, accessToken: secretKey };
    const run = await triggerRun();
    for (let i = 0; i < 50; i++) await streams.append("acked", { i }, { target: run.id, ...server });

    let piped = false;
    const writing = streams.pipe("piped", numbered(1_500, 2), { target: run.id, ...server });
    void writing.then(() => (piped = true));
    // Kill the webapp a moment after the pipe started storing chunks, while it is still going.
    await vi.waitFor(
      async () =>
        expect(
          await prisma.realtimeStream.findUnique({ where: { runId_key: { runId: run.internalId, key: "piped" } } }),
        ).not.toBeNull(),
      { timeout: 30_000, interval: 50 },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(piped).toBe(false);
    await killWebapp();
    await startWebapp();

    expect(await writing).toEqual({ chunks: 1_500 });
    await prisma.taskRun.update({
      where: { id: run.internalId },
      data: { status: "COMPLETED_SUCCESSFULLY", completedAt: new Date() },
    });
    const read = async (key: string) => {
      const out: Array<{ i: number }> = [];
      for await (const chunk of streams.read<{ i: number }>(run.id, key, server)) out.push(chunk);
      return out.map((c) => c.i);
    };
    expect(await read("acked")).toEqual([...Array(50).keys()]);
    expect(await read("piped")).toEqual([...Array(1_500).keys()]);
    await vi.waitFor(
      async () => {
        const rows = await prisma.realtimeStream.findMany({
          where: { runId: run.internalId },
          orderBy: { key: "asc" },
        });
        expect(rows.map((r) => [r.key, r.chunkCount, r.endedAt !== null])).toEqual([
          ["acked", 50, true],
          ["piped", 1_500, true],
        ]);
      },
      { timeout: 20_000, interval: 200 },
    );
  });
});
