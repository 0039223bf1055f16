/**
 * The write pipeline against a real webapp, Redis and Postgres (docs/decisions/092-write-pipeline.md):
 * batched endpoints, validation that queues nothing, parent/root routing and coalescing, environment
 * isolation, run logs, exactly-once batches (cursor and fence), and low-class backpressure.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { applyBatch, raiseFence, type Applier } from "../../app/services/writePipeline/cursor.server.js";
import { MAX_RETRY_AFTER_S } from "../../app/services/writePipeline/backpressure.server.js";
import { streamName } from "../../app/services/writePipeline/streamNames.server.js";
import pg from "pg";
import { pipeline } from "@runfeed/sdk";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { api } from "./helpers.js";

// Under a loaded machine a drain batch and a trigger can take seconds: wait for conditions, generously.
vi.setConfig({ testTimeout: 120_000 });
const eventually = <T>(fn: () => Promise<T> | T) => expect.poll(fn, { timeout: 60_000, interval: 50 });

const FAST = { WRITE_PIPELINE_HIGH_INTERVAL_MS: "50", WRITE_PIPELINE_LOW_INTERVAL_MS: "50" };

describe("write pipeline", () => {
  let app: TestWebapp;
  let root: ReturnType<typeof api>;
  let other: ReturnType<typeof api>;
  const prisma = () => app.webapp.services.prisma;
  const trigger = async (call = root, options: object = {}) =>
    (await call("POST", "/api/v1/tasks/pipeline-task/trigger", { payload: "{}", options })).json.id as string;
  const metadataOf = async (friendlyId: string) =>
    JSON.parse((await prisma().taskRun.findFirstOrThrow({ where: { friendlyId } })).metadata ?? "{}");
  const queued = async () => {
    const { redis } = app.webapp.services;
    const lengths = await Promise.all(app.webapp.services.writePipeline.streams.map((s) => redis.xlen(s.key)));
    return lengths.reduce((a, b) => a + b, 0);
  };

  beforeAll(async () => {
    app = await startTestWebapp(FAST);
    const envs = app.project.environments;
    root = api(app.url, envs.find((e) => e.slug === "prod")!.apiKey);
    other = api(app.url, envs.find((e) => e.slug === "dev")!.apiKey);
  });
  afterAll(() => app?.close());

  it("accepts metadata operations for many runs with 202 and applies them in order", async () => {
    const [a, b] = [await trigger(), await trigger()];
    const res = await root("POST", "/api/v1/metadata/batch", {
      items: [
        { runId: a, operations: [{ type: "set", key: "stage", value: "one" }] },
        { runId: b, operations: [{ type: "increment", key: "n", value: 2 }] },
        { runId: a, operations: [{ type: "append", key: "log", value: 1 }] },
        { runId: a, operations: [{ type: "set", key: "stage", value: "two" }] },
        { runId: b, operations: [{ type: "increment", key: "n", value: 3 }] },
      ],
    });
    expect(res.status, res.text).toBe(202);
    expect(res.json).toEqual({ accepted: 5, urgency: "high" });
    await eventually(() => metadataOf(a)).toEqual({ stage: "two", log: [1] });
    await eventually(() => metadataOf(b)).toEqual({ n: 5 });
  });

  it("queues a request repeated with the same request key once", async () => {
    const a = await trigger();
    const body = { items: [{ runId: a, operations: [{ type: "increment", key: "n", value: 1 }] }] };
    const key = { "x-trigger-request-idempotency-key": `retry-${a}` };
    for (let i = 0; i < 3; i++) expect((await root("POST", "/api/v1/metadata/batch", body, key)).status).toBe(202);
    await root("POST", "/api/v1/metadata/batch", {
      items: [{ runId: a, operations: [{ type: "set", key: "marker", value: true }] }],
    });
    await eventually(() => metadataOf(a)).toEqual({ n: 1, marker: true });
  });

  it("takes @runfeed/sdk's batched writes: metadata and log lines flushed together", async () => {
    const [a, b] = [await trigger(), await trigger()];
    const accessToken = app.project.environments.find((e) => e.slug === "prod")!.apiKey;
    const writer = pipeline.writer({ baseURL: app.url, accessToken, maxItems: 1_000, maxAgeMs: 60_000 });
    for (let i = 0; i < 50; i++) writer.metadata(i % 2 ? a : b).increment("n");
    writer.log(a, { message: "from the sdk" });
    await writer.flush();
    await eventually(() => metadataOf(a)).toEqual({ n: 25 });
    await eventually(() => metadataOf(b)).toEqual({ n: 25 });
    const internal = (await prisma().taskRun.findFirstOrThrow({ where: { friendlyId: a } })).id;
    await eventually(() => prisma().taskRunLog.count({ where: { runId: internal } })).toBe(1);
  });

  it("answers a bad item with a 400 naming it, and queues nothing of the request", async () => {
    const a = await trigger();
    const before = await queued();
    const res = await root("POST", "/api/v1/metadata/batch", {
      items: [
        { runId: a, operations: [{ type: "increment", key: "n", value: 1 }] },
        { runId: a, operations: [{ type: "increment", key: "__proto__", value: 1 }] },
      ],
    });
    expect(res.status).toBe(400);
    expect(res.json.error).toMatch(/items\.1\.operations\.0\.key/);
    const empty = await root("POST", "/api/v1/logs/batch", { items: [{ runId: a, level: "loud", message: "x" }] });
    expect(empty.status).toBe(400);
    expect(empty.json.error).toMatch(/items\.0\.level/);
    expect(await queued()).toBeLessThanOrEqual(before);
    // A later good write is applied alone: the refused increment never was.
    await root("POST", "/api/v1/metadata/batch", {
      items: [{ runId: a, operations: [{ type: "set", key: "k", value: 1 }] }],
    });
    await eventually(() => metadataOf(a)).toEqual({ k: 1 });
  });

  it("routes parent and root operations, coalescing many children's increments into the parent", async () => {
    const parent = await trigger();
    const children = await Promise.all(Array.from({ length: 20 }, () => trigger(root, { parentRunId: parent })));
    const items = children.flatMap((child) => [
      {
        runId: child,
        operations: [{ type: "increment", key: "mine", value: 1 }],
        parentOperations: [{ type: "increment", key: "done", value: 1 }],
      },
      { runId: child, rootOperations: [{ type: "increment", key: "total", value: 2 }] },
    ]);
    const res = await root("POST", "/api/v1/metadata/batch", { items });
    expect(res.status, res.text).toBe(202);
    await eventually(() => metadataOf(parent)).toEqual({ done: 20, total: 40 });
    for (const child of children) expect(await metadataOf(child)).toEqual({ mine: 1 });
  });

  it("never applies an item to another environment's run", async () => {
    const theirs = await trigger(other);
    const mine = await trigger();
    await root("POST", "/api/v1/metadata/batch", {
      items: [
        { runId: theirs, operations: [{ type: "set", key: "hacked", value: true }] },
        { runId: mine, operations: [{ type: "set", key: "ok", value: true }] },
      ],
    });
    await eventually(() => metadataOf(mine)).toEqual({ ok: true });
    expect(await metadataOf(theirs)).toEqual({});
  });

  it("stores run log lines and events once each, in order", async () => {
    const run = await trigger();
    const internal = (await prisma().taskRun.findFirstOrThrow({ where: { friendlyId: run } })).id;
    const res = await root("POST", "/api/v1/logs/batch", {
      items: [
        { runId: run, level: "info", message: "first", attributes: { step: 1 } },
        { runId: internal, kind: "event", level: "warn", message: "second" },
        { runId: run, message: "third", time: new Date(Date.now() + 60_000).toISOString() },
      ],
    });
    expect(res.status, res.text).toBe(202);
    expect(res.json).toEqual({ accepted: 3, urgency: "low" });
    const lines = () =>
      prisma().taskRunLog.findMany({ where: { runId: internal }, orderBy: [{ time: "asc" }, { seq: "asc" }] });
    await eventually(async () => (await lines()).length).toBe(3);
    const stored = await lines();
    expect(stored.map((l) => [l.message, l.kind, l.level])).toEqual([
      ["first", "log", "info"],
      ["second", "event", "warn"],
      ["third", "log", "info"],
    ]);
    expect(stored[0]!.attributes).toEqual({ step: 1 });
  });

  it("stores a line Postgres would refuse as is (NUL, lone surrogate) made storable, and the stream goes on", async () => {
    const run = await trigger();
    const internal = (await prisma().taskRun.findFirstOrThrow({ where: { friendlyId: run } })).id;
    const odd = { runId: run, message: "a\u0000b", attributes: { "k\u0000": "\ud800" } };
    expect((await root("POST", "/api/v1/logs/batch", { items: [odd] })).status).toBe(202);
    expect((await root("POST", "/api/v1/logs/batch", { items: [{ runId: run, message: "after" }] })).status).toBe(202);
    const lines = () => prisma().taskRunLog.findMany({ where: { runId: internal }, orderBy: { time: "asc" } });
    await eventually(async () => (await lines()).map((l) => l.message)).toEqual(["a\uFFFDb", "after"]);
    expect((await lines())[0]!.attributes).toEqual({ "k\uFFFD": "\uFFFD" });
  });

  it("applies a batch once: re-delivered entries are skipped, and a fenced-off drain commits nothing", async () => {
    const run = await trigger();
    const internal = (await prisma().taskRun.findFirstOrThrow({ where: { friendlyId: run } })).id;
    const prodId = app.project.environments.find((e) => e.slug === "prod")!.id;
    const pool = new pg.Pool({ connectionString: app.database.url, max: 2 });
    try {
      const stream = streamName("test-exactly-once:", "high", 0);
      const calls: number[] = [];
      const apply: Applier = async (client, entries) => {
        calls.push(entries.length);
        await client.query(`UPDATE "TaskRun" SET "metadataVersion" = "metadataVersion" + $2 WHERE "id" = $1`, [
          internal,
          entries.length,
        ]);
        return { applied: entries.length, rows: 1, dropped: {} };
      };
      const entries = [
        { id: "1000-0", environmentId: prodId, items: [] },
        { id: "1000-1", environmentId: prodId, items: [] },
      ];
      const fence = await raiseFence(pool, stream.cursor);
      expect(await applyBatch(pool, stream.cursor, fence, entries, apply)).toMatchObject({
        kind: "committed",
        skipped: 0,
      });
      // The same entries again (their XACK was lost) plus one new: only the new one applies.
      const again = await applyBatch(
        pool,
        stream.cursor,
        fence,
        [...entries, { id: "1001-0", environmentId: prodId, items: [] }],
        apply,
      );
      expect(again).toMatchObject({ kind: "committed", skipped: 2 });
      expect(calls).toEqual([2, 1]);
      // Another drain takes the stream over: the old fence commits nothing.
      await raiseFence(pool, stream.cursor);
      expect(
        await applyBatch(pool, stream.cursor, fence, [{ id: "1002-0", environmentId: prodId, items: [] }], apply),
      ).toEqual({
        kind: "fenced",
      });
      expect(calls).toEqual([2, 1]);
      const row = await prisma().taskRun.findUniqueOrThrow({ where: { id: internal } });
      expect(row.metadataVersion).toBe(3);
    } finally {
      await pool.end();
    }
  });
});

describe("write pipeline backpressure", () => {
  let app: TestWebapp;
  let root: ReturnType<typeof api>;

  beforeAll(async () => {
    app = await startTestWebapp({
      WRITE_PIPELINE_DRAIN_ENABLED: "false",
      WRITE_PIPELINE_LOW_HIGH_WATER: "2",
      WRITE_PIPELINE_HIGH_SLOW_WATER: "2",
      WRITE_PIPELINE_HIGH_HIGH_WATER: "1000",
      WRITE_PIPELINE_HIGH_MAX_WAIT_MS: "300",
      WRITE_PIPELINE_DEPTH_INTERVAL_MS: "20",
    });
    root = api(app.url, app.project.environments.find((e) => e.slug === "prod")!.apiKey);
  });
  afterAll(() => app?.close());

  it("refuses low writes past the high-water mark with 429 and a retry-after from backlog and drain rate; high writes wait, then are refused", async () => {
    const logs = { items: [{ runId: "run_x", message: "m" }] };
    for (let i = 0; i < 3; i++) expect((await root("POST", "/api/v1/logs/batch", logs)).status).toBe(202);
    const { depths } = app.webapp.services.writePipeline;
    await eventually(() => depths.depthOf("low")).toBe(3);
    const refused = await root("POST", "/api/v1/logs/batch", logs);
    expect(refused.status).toBe(429);
    // No drain applied anything in the last second: the longest retry-after.
    expect(refused.headers.get("retry-after")).toBe(String(MAX_RETRY_AFTER_S));
    expect(refused.json.code).toBe("write_buffer_full");
    // Drains applying 1 entry/s (their per-second counters, as pipelineStats keeps them), 1 entry over
    // the mark: retry after 1 s.
    const { redis, env } = app.webapp.services;
    const now = Math.floor(Date.now() / 1000);
    for (let second = now - 1; second <= now + 5; second++)
      await redis.hset(`${env.REDIS_KEY_PREFIX}wp:stats:low:${second}`, "entries", "1");
    await eventually(() => depths.drainRateOf("low")).toBe(1);
    expect((await root("POST", "/api/v1/logs/batch", logs)).headers.get("retry-after")).toBe("1");

    const meta = { items: [{ runId: "run_x", operations: [{ type: "increment", key: "n", value: 1 }] }] };
    for (let i = 0; i < 3; i++) expect((await root("POST", "/api/v1/metadata/batch", meta)).status).toBe(202);
    await eventually(() => depths.depthOf("high")).toBe(3);
    const started = performance.now();
    const slowed = await root("POST", "/api/v1/metadata/batch", meta);
    expect(slowed.status).toBe(429);
    expect(slowed.headers.get("retry-after")).toBe(String(MAX_RETRY_AFTER_S));
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });
});

describe("write pipeline: the worker's log lines", () => {
  let app: TestWebapp;

  beforeAll(async () => {
    app = await startTestWebapp({ ...FAST, WORKER_ENABLED: "true" });
  });
  afterAll(() => app?.close());

  it("go through the low class: durable before the run completes, stored in order with their stream place as id", async () => {
    const root = api(app.url, app.project.environments.find((e) => e.slug === "prod")!.apiKey);
    const res = await root("POST", "/api/v1/tasks/hello-world/trigger", { payload: JSON.stringify({ delayMs: 10 }) });
    expect(res.status, res.text).toBe(200);
    const prisma = app.webapp.services.prisma;
    const run = () => prisma.taskRun.findFirstOrThrow({ where: { friendlyId: res.json.id as string } });
    await eventually(async () => (await run()).status).toBe("COMPLETED_SUCCESSFULLY");
    const runId = (await run()).id;
    const stored = () => prisma.taskRunLog.findMany({ where: { runId }, orderBy: [{ time: "asc" }, { seq: "asc" }] });
    // Accepted before the completion was recorded; applied by the drain within its interval.
    await eventually(async () => (await stored()).map((l) => l.message)).toEqual([
      "Waiting before greeting",
      "Hello, world!",
    ]);
    const lines = await stored();
    const lowStreams = app.webapp.services.writePipeline.streams.filter((s) => s.urgency === "low").map((s) => s.key);
    for (const line of lines) expect(lowStreams.some((key) => line.id.startsWith(`${key}:`))).toBe(true);
  });
});

describe("write pipeline: the worker's log lines when the buffer refuses them", () => {
  let app: TestWebapp;

  beforeAll(async () => {
    // No drain, and a low class full past one entry: every append of the worker's lines is refused.
    app = await startTestWebapp({
      WORKER_ENABLED: "true",
      WRITE_PIPELINE_DRAIN_ENABLED: "false",
      WRITE_PIPELINE_LOW_HIGH_WATER: "1",
      WRITE_PIPELINE_DEPTH_INTERVAL_MS: "20",
    });
  });
  afterAll(() => app?.close());

  it("are written directly instead: stored before the run completes, none of them queued", async () => {
    const root = api(app.url, app.project.environments.find((e) => e.slug === "prod")!.apiKey);
    const filler = { items: [{ runId: "run_x", message: "fills the buffer" }] };
    for (let i = 0; i < 2; i++) expect((await root("POST", "/api/v1/logs/batch", filler)).status).toBe(202);
    const { depths, streams } = app.webapp.services.writePipeline;
    await eventually(() => depths.depthOf("low")).toBe(2);
    expect((await root("POST", "/api/v1/logs/batch", filler)).status).toBe(429);

    const res = await root("POST", "/api/v1/tasks/hello-world/trigger", { payload: JSON.stringify({ delayMs: 10 }) });
    expect(res.status, res.text).toBe(200);
    const prisma = app.webapp.services.prisma;
    const run = () => prisma.taskRun.findFirstOrThrow({ where: { friendlyId: res.json.id as string } });
    await eventually(async () => (await run()).status).toBe("COMPLETED_SUCCESSFULLY");
    const runId = (await run()).id;
    // Stored when the run completed (no drain runs here, so only the direct write can have stored them).
    const lines = await prisma.taskRunLog.findMany({ where: { runId }, orderBy: [{ time: "asc" }, { seq: "asc" }] });
    expect(lines.map((l) => l.message)).toEqual(["Waiting before greeting", "Hello, world!"]);
    const lowStreams = streams.filter((s) => s.urgency === "low").map((s) => s.key);
    for (const line of lines) expect(lowStreams.some((key) => line.id.startsWith(`${key}:`))).toBe(false);
    // The buffer holds only the two filler entries: the refused lines were not queued as well.
    const { redis } = app.webapp.services;
    const lengths = await Promise.all(lowStreams.map((key) => redis.xlen(key)));
    expect(lengths.reduce((a, b) => a + b, 0)).toBe(2);
  });
});
