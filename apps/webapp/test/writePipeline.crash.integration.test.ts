/**
 * The write pipeline's durability promise under crashes (docs/decisions/092-write-pipeline.md):
 * 200 concurrent writers send 1,000,000 metadata increments (500,000 items, each +1 on a run and +1 on
 * its parent) across 1,000 runs and their 10 parents, and 50,000 log lines. The drain runs as its
 * own process (server/drain.ts) and is killed with SIGKILL twice mid-way; this test's own
 * redis-server (append-only file, appendfsync always) is killed with SIGKILL once and restarted on
 * the same file. Writers retry refused or failed requests with the same request key, as a client
 * does. At the end every sum is exact and every log line is stored exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { rm } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { type RunningRedis, startRedisServer } from "@runfeed/devstack";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWebapp, type TestWebapp } from "./support/webapp.js";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const DRAIN = fileURLToPath(new URL("../server/drain.ts", import.meta.url));
const PARENTS = 10;
const RUNS = 1_000;
const WRITERS = 200;
const ITEMS = 500_000; // × 2 increments
// The batched endpoint's largest request (MAX_BATCH_ITEMS): fewer round trips, the same items.
const ITEMS_PER_REQUEST = 1_000;
const LOG_LINES = 50_000;
const LINES_PER_REQUEST = 250;
const PREFIX = "crash:";
const PIPELINE_ENV = {
  REDIS_KEY_PREFIX: PREFIX,
  WRITE_PIPELINE_LEASE_MS: "1500",
  WRITE_PIPELINE_HIGH_INTERVAL_MS: "100",
  WRITE_PIPELINE_LOW_INTERVAL_MS: "200",
  WRITE_PIPELINE_BATCH_SIZE: "100",
  // The test is about crashes, not backpressure: marks out of reach.
  WRITE_PIPELINE_LOW_HIGH_WATER: "1000000",
  WRITE_PIPELINE_HIGH_SLOW_WATER: "1000000",
  WRITE_PIPELINE_HIGH_HIGH_WATER: "2000000",
};

describe("write pipeline crash test", () => {
  let redis: RunningRedis;
  let app: TestWebapp;
  let drain: ChildProcess | undefined;
  const exits: Array<Promise<unknown>> = [];

  const startDrain = () => {
    const child = spawn(process.execPath, ["--import", "tsx", DRAIN], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...PIPELINE_ENV,
        NODE_ENV: "test",
        LOG_LEVEL: "error",
        DATABASE_URL: app.database.url,
        REDIS_URL: redis.url,
      },
      stdio: ["ignore", "ignore", "inherit"],
    });
    exits.push(new Promise((resolve) => child.once("exit", resolve)));
    return child;
  };
  const killDrain = async () => {
    const exited = new Promise((resolve) => drain!.once("exit", resolve));
    drain!.kill("SIGKILL");
    await exited;
  };

  beforeAll(async () => {
    redis = await startRedisServer({ appendfsync: "always" });
    app = await startTestWebapp({ ...PIPELINE_ENV, REDIS_URL: redis.url, WRITE_PIPELINE_DRAIN_ENABLED: "false" });
  }, 120_000);
  afterAll(async () => {
    drain?.kill("SIGKILL");
    await Promise.all(exits);
    await app?.close();
    await redis?.stop();
    if (redis) await rm(redis.dir, { recursive: true, force: true });
  });

  it("keeps every sum exact and every log line once through two drain kills and a Redis kill", async () => {
    const env = app.project.environments.find((e) => e.slug === "prod")!;
    const headers = { "content-type": "application/json", authorization: `Bearer ${env.apiKey}` };
    const post = async (path: string, body: unknown, extra: Record<string, string> = {}) => {
      const res = await fetch(`${app.url}${path}`, {
        method: "POST",
        headers: { ...headers, ...extra },
        body: JSON.stringify(body),
      });
      return { status: res.status, json: (await res.json().catch(() => undefined)) as any };
    };
    const trigger = async (options: object) =>
      (await post("/api/v1/tasks/crash-task/trigger", { payload: "{}", options })).json.id as string;
    const parents: string[] = [];
    for (let i = 0; i < PARENTS; i++) parents.push(await trigger({}));
    const runs: string[] = [];
    for (let i = 0; i < RUNS; i += 20) {
      runs.push(
        ...(await Promise.all(
          Array.from({ length: 20 }, (_, j) => trigger({ parentRunId: parents[(i + j) % PARENTS] })),
        )),
      );
    }

    // A request is retried with its key until it is answered 202, as a client does.
    let accepted = 0;
    let retried = 0;
    const send = async (path: string, body: unknown, key: string) => {
      for (;;) {
        const res = await post(path, body, { "x-trigger-request-idempotency-key": key }).catch(() => ({ status: 0 }));
        if (res.status === 202) return;
        expect([0, 429, 503]).toContain(res.status);
        retried++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    const expected = new Map<string, number>();
    const writer = async (w: number) => {
      const itemsPerWriter = ITEMS / WRITERS;
      const linesPerWriter = LOG_LINES / WRITERS;
      let line = 0;
      for (let sent = 0, r = 0; sent < itemsPerWriter; sent += ITEMS_PER_REQUEST, r++) {
        const items = Array.from({ length: Math.min(ITEMS_PER_REQUEST, itemsPerWriter - sent) }, (_, i) => {
          const run = runs[(w * 7 + sent + i) % RUNS]!;
          return {
            runId: run,
            operations: [{ type: "increment", key: "n", value: 1 }],
            parentOperations: [{ type: "increment", key: "children", value: 1 }],
          };
        });
        for (const item of items) expected.set(item.runId, (expected.get(item.runId) ?? 0) + 1);
        await send("/api/v1/metadata/batch", { items }, `w${w}-m${r}`);
        accepted += items.length;
        if (line < linesPerWriter) {
          const lines = Array.from({ length: LINES_PER_REQUEST }, (_, i) => ({
            runId: runs[(w + line + i) % RUNS]!,
            message: `w${w}-l${line + i}`,
          }));
          await send("/api/v1/logs/batch", { items: lines }, `w${w}-l${line}`);
          line += LINES_PER_REQUEST;
        }
      }
    };

    const sql = app.webapp.services.prisma;
    const applied = async () => {
      const [row] = await sql.$queryRawUnsafe<Array<{ n: bigint | null }>>(
        `SELECT sum((metadata::jsonb->>'n')::bigint) AS n FROM "TaskRun" WHERE "parentTaskRunId" IS NOT NULL`,
      );
      return Number(row?.n ?? 0);
    };
    const until = async (what: string, condition: () => Promise<boolean> | boolean) => {
      await expect.poll(condition, { timeout: 600_000, interval: 100, message: what }).toBe(true);
    };

    drain = startDrain();
    const writing = Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));

    await until("the first drain applied a part", async () => (await applied()) >= ITEMS * 0.1);
    await killDrain();
    drain = startDrain();

    await until("half the items accepted", () => accepted >= ITEMS / 2);
    const redisPid = redis.pid;
    process.kill(redisPid, "SIGKILL");
    await until("redis-server gone", () => {
      try {
        process.kill(redisPid, 0);
        return false;
      } catch {
        return true;
      }
    });
    redis = await startRedisServer({ port: redis.port, dir: redis.dir, appendfsync: "always" });

    await until("the second drain applied more", async () => (await applied()) >= ITEMS * 0.6);
    expect(await applied()).toBeLessThan(ITEMS);
    await killDrain();
    drain = startDrain();

    await writing;
    const client = new Redis(redis.url);
    try {
      const streams = (await client.keys(`${PREFIX}wp:*`)).filter((key) => /^crash:wp:(high|low):\d+$/.test(key));
      await until("every stream drained", async () => {
        const lengths = await Promise.all(streams.map((key) => client.xlen(key)));
        return lengths.every((n) => n === 0);
      });
    } finally {
      client.disconnect();
    }

    const rows = await sql.taskRun.findMany({
      select: { friendlyId: true, metadata: true, parentTaskRunId: true, id: true },
    });
    const byId = new Map(rows.map((r) => [r.id, r]));
    const parentSums = new Map<string, number>();
    for (const run of runs) {
      const row = rows.find((r) => r.friendlyId === run)!;
      const n = JSON.parse(row.metadata ?? "{}").n ?? 0;
      expect(n, run).toBe(expected.get(run) ?? 0);
      const parent = byId.get(row.parentTaskRunId!)!;
      parentSums.set(parent.friendlyId, (parentSums.get(parent.friendlyId) ?? 0) + n);
    }
    for (const parent of parents) {
      const row = rows.find((r) => r.friendlyId === parent)!;
      expect(JSON.parse(row.metadata ?? "{}").children, parent).toBe(parentSums.get(parent));
    }
    expect([...parentSums.values()].reduce((a, b) => a + b, 0)).toBe(ITEMS);
    const [logs] = await sql.$queryRawUnsafe<Array<{ lines: bigint; distinct: bigint }>>(
      `SELECT count(*) AS lines, count(DISTINCT message) AS distinct FROM "TaskRunLog"`,
    );
    expect(Number(logs!.lines)).toBe(LOG_LINES);
    expect(Number(logs!.distinct)).toBe(LOG_LINES);
    process.stderr.write(`[crash test] ${accepted} items accepted, ${retried} requests retried\n`);
  }, 900_000);
});
