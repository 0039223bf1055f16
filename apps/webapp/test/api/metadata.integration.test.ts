/**
 * Metadata PUT/GET (#40–#42) and tags (#43) against a real webapp, with a small metadata limit
 * (TASK_RUN_METADATA_MAXIMUM_SIZE=2048) so the 413 path is cheap to reach.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { api } from "./helpers.js";

describe("metadata and tags", () => {
  let app: TestWebapp;
  let root: ReturnType<typeof api>;
  const prisma = () => app.webapp.services.prisma;
  const row = (friendlyId: string) => prisma().taskRun.findFirstOrThrow({ where: { friendlyId } });
  const trigger = async (options: object = {}) =>
    (await root("POST", "/api/v1/tasks/meta-task/trigger", { payload: "{}", options })).json.id as string;
  const put = (id: string, body: unknown) => root("PUT", `/api/v1/runs/${id}/metadata`, body);

  beforeAll(async () => {
    app = await startTestWebapp({ TASK_RUN_METADATA_MAXIMUM_SIZE: "2048" });
    root = api(app.url, app.project.environments.find((e) => e.slug === "prod")!.apiKey);
  });
  afterAll(() => app?.close());

  describe("PUT/GET /api/v1/runs/:runId/metadata", () => {
    it("applies every operation in order and answers {metadata: object}", async () => {
      const id = await trigger({ metadata: { keep: true, list: [1, 2, 3], nested: { n: 1 } } });
      const res = await put(id, {
        operations: [
          { type: "set", key: "status", value: "running" },
          { type: "increment", key: "count", value: 5 },
          { type: "increment", key: "count", value: -2 },
          { type: "append", key: "list", value: 4 },
          { type: "remove", key: "list", value: 2 },
          { type: "set", key: "$.nested.m", value: "x" },
          { type: "increment", key: "$.nested.n", value: 1 },
          { type: "delete", key: "keep" },
        ],
      });
      expect(res.status, res.text).toBe(200);
      const expected = { status: "running", count: 3, list: [1, 3, 4], nested: { n: 2, m: "x" } };
      expect(res.json).toEqual({ metadata: expected });
      expect((await root("GET", `/api/v1/runs/${id}/metadata`)).json).toEqual({ metadata: expected });
      expect(JSON.parse((await row(id)).metadata!)).toEqual(expected);

      expect((await put(id, { operations: [{ type: "update", value: { fresh: 1 } }] })).json).toEqual({
        metadata: { fresh: 1 },
      });
    });

    it("accepts the internal id, bumps updatedAt and metadataVersion on writes, and skips no-op writes", async () => {
      const id = await trigger();
      const before = await prisma().taskRun.update({
        where: { friendlyId: id },
        data: { updatedAt: new Date(Date.now() - 60_000) },
      });
      const res = await root("PUT", `/api/v1/runs/${before.id}/metadata`, {
        operations: [{ type: "set", key: "a", value: 1 }],
      });
      expect(res.json).toEqual({ metadata: { a: 1 } });
      const after = await row(id);
      expect(after.updatedAt.getTime()).toBeGreaterThan(before.updatedAt.getTime());
      expect(Math.abs(after.updatedAt.getTime() - Date.now())).toBeLessThan(10_000); // stored as UTC
      expect(after.metadataVersion).toBe(before.metadataVersion + 1);

      expect((await put(id, { operations: [{ type: "set", key: "a", value: 1 }] })).json).toEqual({
        metadata: { a: 1 },
      });
      expect(await put(id, { operations: [] })).toMatchObject({ status: 200, json: { metadata: { a: 1 } } });
      expect((await row(id)).metadataVersion).toBe(after.metadataVersion);
    });

    it("the legacy metadata body replaces the whole object ({} is ignored)", async () => {
      const id = await trigger({ metadata: { old: 1 } });
      expect((await put(id, { metadata: { replaced: true } })).json).toEqual({ metadata: { replaced: true } });
      expect((await put(id, { metadata: {} })).json).toEqual({ metadata: { replaced: true } });
    });

    it("routes parentOperations and rootOperations to the parent and root (self when none)", async () => {
      const rootRun = await trigger();
      const parent = await trigger({ parentRunId: rootRun });
      const child = await trigger({ parentRunId: parent });
      const res = await put(child, {
        operations: [{ type: "set", key: "me", value: "child" }],
        parentOperations: [{ type: "increment", key: "children", value: 1 }],
        rootOperations: [{ type: "append", key: "log", value: "child done" }],
      });
      expect(res.json).toEqual({ metadata: { me: "child" } });
      const get = async (id: string) => (await root("GET", `/api/v1/runs/${id}/metadata`)).json.metadata;
      expect(await get(parent)).toEqual({ children: 1 });
      expect(await get(rootRun)).toEqual({ log: ["child done"] });

      const lonely = await trigger();
      const self = await put(lonely, {
        operations: [{ type: "increment", key: "n", value: 1 }],
        parentOperations: [{ type: "increment", key: "n", value: 10 }],
        rootOperations: [{ type: "increment", key: "n", value: 100 }],
      });
      expect(self.json).toEqual({ metadata: { n: 111 } });
    });

    it("413 above TASK_RUN_METADATA_MAXIMUM_SIZE, with nothing applied to any row", async () => {
      const parent = await trigger({ metadata: { p: 1 } });
      const child = await trigger({ parentRunId: parent, metadata: { c: 1 } });
      const big = "x".repeat(3000);
      const alone = await put(child, { operations: [{ type: "set", key: "blob", value: big }] });
      expect(alone.status).toBe(413);
      expect(alone.json.error).toContain("2048");
      const mixed = await put(child, {
        operations: [{ type: "set", key: "ok", value: 1 }],
        parentOperations: [{ type: "set", key: "blob", value: big }],
      });
      expect(mixed.status).toBe(413);
      expect(JSON.parse((await row(child)).metadata!)).toEqual({ c: 1 });
      expect(JSON.parse((await row(parent)).metadata!)).toEqual({ p: 1 });
    });

    it("one oversized writer among concurrent ones fails alone", async () => {
      const id = await trigger();
      const results = await Promise.all([
        ...Array.from({ length: 10 }, () => put(id, { operations: [{ type: "increment", key: "n", value: 1 }] })),
        put(id, { operations: [{ type: "set", key: "blob", value: "y".repeat(3000) }] }),
        ...Array.from({ length: 10 }, () => put(id, { operations: [{ type: "increment", key: "n", value: 1 }] })),
      ]);
      expect(results.map((r) => r.status).sort()).toEqual([...Array(20).fill(200), 413]);
      expect((await root("GET", `/api/v1/runs/${id}/metadata`)).json.metadata).toEqual({ n: 20 });
    });

    it("422 for runs completed more than 1 h ago; allowed within the hour", async () => {
      const old = await trigger();
      const recent = await trigger();
      await prisma().taskRun.update({
        where: { friendlyId: old },
        data: { status: "COMPLETED_SUCCESSFULLY", completedAt: new Date(Date.now() - 61 * 60_000) },
      });
      await prisma().taskRun.update({
        where: { friendlyId: recent },
        data: { status: "COMPLETED_SUCCESSFULLY", completedAt: new Date(Date.now() - 30 * 60_000) },
      });
      const ops = { operations: [{ type: "set", key: "late", value: true }] };
      const refused = await put(old, ops);
      expect(refused.status).toBe(422);
      expect(refused.json).toEqual({ error: "Cannot update metadata for a completed run" });
      expect((await put(recent, ops)).status).toBe(200);
    });

    it("validates operations: dangerous keys, $. alone, bad types → 400 naming the field", async () => {
      const id = await trigger();
      for (const op of [
        { type: "set", key: "__proto__", value: { polluted: true } },
        { type: "set", key: "$.a.constructor.prototype", value: 1 },
        { type: "set", key: "$.", value: 1 },
        { type: "increment", key: "n", value: "1" },
        { type: "launch", key: "n" },
      ]) {
        const res = await put(id, { operations: [op] });
        expect(res.status, JSON.stringify(op)).toBe(400);
        expect(res.json.error).toContain("operations.0");
      }
      expect((await put(id, "{broken")).status).toBe(400);
      expect((await row(id)).metadata).toBeNull();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it("404 for unknown runs", async () => {
      const res = await put("run_missing0000000000000000", { operations: [{ type: "set", key: "a", value: 1 }] });
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: "Task Run not found" });
    });

    it("400 naming the problem, never a 500, for a NUL in the run id or in a metadata value", async () => {
      for (const [method, path] of [
        ["GET", "/api/v1/runs/run_a%00b/metadata"],
        ["GET", "/api/v3/runs/%00"],
        ["POST", "/api/v2/runs/%00/cancel"],
        ["GET", "/realtime/v1/runs/%00"],
        ["GET", "/realtime/v1/batches/%00"],
      ] as const) {
        const res = await root(method, path);
        expect(res.status, `${method} ${path}: ${res.text}`).toBe(400);
        expect(res.json.error).toMatch(/runId|batchId/);
        expect(res.json.error).toMatch(/control characters/);
      }
      // Inside JSON a NUL is an escape, which the text columns store as written.
      const id = await trigger({ metadata: { keep: 1 } });
      expect((await put(id, { operations: [{ type: "set", key: "a", value: "x\u0000y" }] })).json).toEqual({
        metadata: { keep: 1, a: "x\u0000y" },
      });
      // Where a NUL would reach a text column as a character, Postgres refuses it: a 400, nothing written.
      for (const options of [
        { idempotencyKey: "k\u0000" },
        { concurrencyKey: "c\u0000" },
        { queue: { name: "q\u0000" } },
      ]) {
        const res = await root("POST", "/api/v1/tasks/meta-task/trigger", { payload: "{}", options });
        expect(res.status, `${JSON.stringify(options)}: ${res.text}`).toBe(400);
      }
    });
  });

  describe("POST /api/v1/runs/:runId/tags", () => {
    it("adds de-duplicated tags, bumps updatedAt, and enforces 10 per run", async () => {
      const id = await trigger({ tags: ["a"] });
      const before = await prisma().taskRun.update({
        where: { friendlyId: id },
        data: { updatedAt: new Date(Date.now() - 60_000) },
      });
      expect((await root("POST", `/api/v1/runs/${id}/tags`, { tags: ["a", "b", "", "c"] })).json).toEqual({
        message: "Successfully set 2 new tags.",
      });
      const after = await row(id);
      expect(after.runTags).toEqual(["a", "b", "c"]);
      expect(after.updatedAt.getTime()).toBeGreaterThan(before.updatedAt.getTime());
      expect((await root("POST", `/api/v1/runs/${id}/tags`, { tags: "a" })).json).toEqual({
        message: "No new tags to add",
      });
      expect((await root("POST", `/api/v1/runs/${id}/tags`, { tags: [] })).json).toEqual({
        message: "No new tags to add",
      });

      const tooMany = await root("POST", `/api/v1/runs/${id}/tags`, {
        tags: Array.from({ length: 8 }, (_, i) => `x${i}`),
      });
      expect(tooMany.status).toBe(422);
      expect(tooMany.json.error).toMatch(/^Runs can only have 10 tags/);
      expect((await row(id)).runTags).toEqual(["a", "b", "c"]);
      expect((await root("POST", `/api/v1/runs/${id}/tags`, { tags: ["y".repeat(129)] })).status).toBe(400);
    });

    it("concurrent adds never exceed the limit nor lose tags", async () => {
      const id = await trigger();
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) => root("POST", `/api/v1/runs/${id}/tags`, { tags: [`t${i}`] })),
      );
      expect(results.filter((r) => r.status === 200)).toHaveLength(10);
      expect(results.filter((r) => r.status === 422)).toHaveLength(2);
      expect((await row(id)).runTags).toHaveLength(10);
    });

    it("stores hostile tags verbatim", async () => {
      const id = await trigger();
      const tags = [`'; DELETE FROM "TaskRun" WHERE ''='`, `"quoted"`, "back\\slash", "ünïcødé 🚀"];
      expect((await root("POST", `/api/v1/runs/${id}/tags`, { tags })).status).toBe(200);
      expect((await row(id)).runTags).toEqual(tags);
      expect(await prisma().taskRun.count()).toBeGreaterThan(1);
    });
  });
});
