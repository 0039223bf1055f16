/**
 * Trigger (#38), two-phase batch (#39), cancel/replay/retrieve (#44), cross-environment 404s and
 * hostile input, over HTTP against a real webapp.
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { api, isolatedRequest } from "./helpers.js";

describe("write API: trigger, batch, runs", () => {
  let app: TestWebapp;
  let prod: TestWebapp["project"]["environments"][number];
  let dev: TestWebapp["project"]["environments"][number];
  let root: ReturnType<typeof api>;
  const prisma = () => app.webapp.services.prisma;
  const row = (friendlyId: string) => prisma().taskRun.findFirstOrThrow({ where: { friendlyId } });

  beforeAll(async () => {
    app = await startTestWebapp();
    prod = app.project.environments.find((e) => e.slug === "prod")!;
    dev = app.project.environments.find((e) => e.slug === "dev")!;
    root = api(app.url, prod.apiKey);
  });
  afterAll(() => app?.close());

  describe("POST /api/v1/tasks/:taskId/trigger", () => {
    it("creates a PENDING run with queuedAt, and answers with x-trigger-jwt headers exposed via CORS", async () => {
      const res = await root(
        "POST",
        "/api/v1/tasks/my-task/trigger",
        { payload: '{"a":1}', options: { payloadType: "application/json" } },
        {
          origin: "https://app.example",
        },
      );
      expect(res.status, res.text).toBe(200);
      expect(res.json).toEqual({ id: expect.stringMatching(/^run_/), isCached: false });
      const stored = await row(res.json.id);
      expect(stored).toMatchObject({
        status: "PENDING",
        taskIdentifier: "my-task",
        payload: '{"a":1}',
        runtimeEnvironmentId: prod.id,
        depth: 0,
      });
      expect(stored.queuedAt).toBeInstanceOf(Date);
      expect(stored.ttl).toBeNull();

      const claims = decodeJwt(res.headers.get("x-trigger-jwt")!);
      expect(claims).toMatchObject({
        sub: prod.id,
        pub: true,
        scopes: [`read:runs:${res.json.id}`, `write:inputStreams:${res.json.id}`],
      });
      expect(claims.exp! - claims.iat!).toBe(3600);
      expect(JSON.parse(res.headers.get("x-trigger-jwt-claims")!)).toEqual({
        sub: prod.id,
        pub: true,
        scopes: [`read:runs:${res.json.id}`, `write:inputStreams:${res.json.id}`],
      });
      expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
      expect(res.headers.get("access-control-expose-headers")).toContain("x-trigger-jwt-claims");
    });

    it("answers the browser preflight", async () => {
      const res = await fetch(`${app.url}/api/v1/tasks/my-task/trigger`, {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type, x-trigger-client",
        },
      });
      expect([200, 204]).toContain(res.status);
      expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
      expect(res.headers.get("access-control-allow-headers")).toContain("x-trigger-client");
    });

    it("idempotency keys (body and header) return the cached run until the TTL passes", async () => {
      const body = { payload: "{}", options: { idempotencyKey: "idem-1", idempotencyKeyTTL: "1h" } };
      const first = await root("POST", "/api/v1/tasks/idem-task/trigger", body);
      const second = await root("POST", "/api/v1/tasks/idem-task/trigger", body);
      expect(second.json).toEqual({ id: first.json.id, isCached: true });
      // Same key on another task is another run.
      expect((await root("POST", "/api/v1/tasks/idem-other/trigger", body)).json.isCached).toBe(false);

      const viaHeader = await root(
        "POST",
        "/api/v1/tasks/idem-task/trigger",
        { payload: "{}" },
        { "idempotency-key": "idem-h" },
      );
      const viaHeader2 = await root(
        "POST",
        "/api/v1/tasks/idem-task/trigger",
        { payload: "{}" },
        { "idempotency-key": "idem-h" },
      );
      expect(viaHeader2.json).toEqual({ id: viaHeader.json.id, isCached: true });

      await prisma().taskRun.update({
        where: { friendlyId: first.json.id },
        data: { idempotencyKeyExpiresAt: new Date(Date.now() - 1000) },
      });
      const third = await root("POST", "/api/v1/tasks/idem-task/trigger", body);
      expect(third.json.isCached).toBe(false);
      expect(third.json.id).not.toBe(first.json.id);
      expect((await row(first.json.id)).idempotencyKey).toBeNull();
      expect((await row(third.json.id)).idempotencyKey).toBe("idem-1");
    });

    it("concurrent first triggers with one idempotency key make one run", async () => {
      const body = { payload: "{}", options: { idempotencyKey: "race" } };
      const results = await Promise.all(
        Array.from({ length: 8 }, () => root("POST", "/api/v1/tasks/race-task/trigger", body)),
      );
      expect(new Set(results.map((r) => r.json.id)).size).toBe(1);
      expect(results.filter((r) => r.json.isCached === false)).toHaveLength(1);
    });

    it("a retried request (same x-trigger-request-idempotency-key) gets the same answer", async () => {
      const headers = { "x-trigger-request-idempotency-key": "req-1" };
      const a = await root("POST", "/api/v1/tasks/retry-task/trigger", { payload: "{}" }, headers);
      const b = await root("POST", "/api/v1/tasks/retry-task/trigger", { payload: "{}" }, headers);
      expect(b.json).toEqual(a.json);
      expect(await prisma().taskRun.count({ where: { taskIdentifier: "retry-task" } })).toBe(1);
    });

    it("delay → DELAYED with delayUntil; ttl stored; dev environments default ttl 10m", async () => {
      const before = Date.now();
      const delayed = await root("POST", "/api/v1/tasks/delay-task/trigger", {
        payload: "{}",
        options: { delay: "1h", ttl: "5m" },
      });
      const stored = await row(delayed.json.id);
      expect(stored.status).toBe("DELAYED");
      expect(stored.queuedAt).toBeNull();
      expect(stored.delayUntil!.getTime()).toBeGreaterThanOrEqual(before + 3_600_000 - 1000);
      expect(stored.delayUntil!.getTime()).toBeLessThanOrEqual(Date.now() + 3_600_000);
      expect(stored.ttl).toBe("5m");

      const at = new Date(Date.now() + 86_400_000).toISOString();
      expect(
        (
          await row(
            (
              await root("POST", "/api/v1/tasks/delay-task/trigger", { payload: "{}", options: { delay: at } })
            ).json.id,
          )
        ).delayUntil?.toISOString(),
      ).toBe(at);
      expect(
        (await root("POST", "/api/v1/tasks/delay-task/trigger", { payload: "{}", options: { delay: "someday" } }))
          .status,
      ).toBe(400);
      expect(
        (
          await row(
            (
              await root("POST", "/api/v1/tasks/delay-task/trigger", { payload: "{}", options: { ttl: 30 } })
            ).json.id,
          )
        ).ttl,
      ).toBe("30s");

      const devRun = await api(app.url, dev.apiKey)("POST", "/api/v1/tasks/dev-task/trigger", { payload: "{}" });
      expect((await row(devRun.json.id)).ttl).toBe("10m");
    });

    it("tags: ≤ 10 per run (422), each ≤ 128 chars (400), empties dropped, SQL stored verbatim", async () => {
      const sql = `'); DROP TABLE "TaskRun"; --`;
      const ok = await root("POST", "/api/v1/tasks/tag-task/trigger", {
        payload: "{}",
        options: { tags: [sql, "", "a", "a"] },
      });
      expect(ok.status, ok.text).toBe(200);
      expect((await row(ok.json.id)).runTags).toEqual([sql, "a"]);
      expect(
        (await root("POST", "/api/v1/tasks/tag-task/trigger", { payload: "{}", options: { tags: "single" } })).status,
      ).toBe(200);

      const many = await root("POST", "/api/v1/tasks/tag-task/trigger", {
        payload: "{}",
        options: { tags: Array.from({ length: 11 }, (_, i) => `t${i}`) },
      });
      expect(many.status).toBe(422);
      expect(many.json.error).toMatch(/^Runs can only have 10 tags/);
      const long = await root("POST", "/api/v1/tasks/tag-task/trigger", {
        payload: "{}",
        options: { tags: ["x".repeat(129)] },
      });
      expect(long.status).toBe(400);
      expect(long.json.error).toContain("options.tags");
    });

    it("parentRunId sets parent, root and depth", async () => {
      const parent = (await root("POST", "/api/v1/tasks/p/trigger", { payload: "{}" })).json.id;
      const child = (await root("POST", "/api/v1/tasks/c/trigger", { payload: "{}", options: { parentRunId: parent } }))
        .json.id;
      const grandchild = (
        await root("POST", "/api/v1/tasks/g/trigger", { payload: "{}", options: { parentRunId: child } })
      ).json.id;
      const [p, c, g] = await Promise.all([row(parent), row(child), row(grandchild)]);
      expect(c).toMatchObject({ parentTaskRunId: p.id, rootTaskRunId: p.id, depth: 1 });
      expect(g).toMatchObject({ parentTaskRunId: c.id, rootTaskRunId: p.id, depth: 2 });
      const missing = await root("POST", "/api/v1/tasks/c/trigger", {
        payload: "{}",
        options: { parentRunId: "run_doesnotexist" },
      });
      expect(missing.status).toBe(422);

      const retrieved = await root("GET", `/api/v3/runs/${grandchild}`);
      expect(retrieved.json.depth).toBe(2);
      expect(retrieved.json.relatedRuns.root.id).toBe(parent);
      expect(retrieved.json.relatedRuns.parent.id).toBe(child);
      expect(
        (await root("GET", `/api/v3/runs/${parent}`)).json.relatedRuns.children.map((r: { id: string }) => r.id),
      ).toEqual([child]);
    });

    it("trigger-time metadata is stored as JSON and limited in size (413)", async () => {
      const ok = await root("POST", "/api/v1/tasks/m/trigger", { payload: "{}", options: { metadata: { step: 1 } } });
      expect((await row(ok.json.id)).metadata).toBe('{"step":1}');
      const big = await root("POST", "/api/v1/tasks/m/trigger", {
        payload: "{}",
        options: { metadata: { blob: "x".repeat(300_000) } },
      });
      expect(big.status).toBe(413);
      expect(await prisma().taskRun.count({ where: { taskIdentifier: "m" } })).toBe(1);
    });
  });

  describe("hostile input", () => {
    it("bad JSON → 400, oversized bodies → 413, wrong types name the field", async () => {
      const bad = await root("POST", "/api/v1/tasks/h/trigger", "{not json");
      expect(bad.status).toBe(400);
      expect(bad.json.error).toMatch(/JSON/);
      const huge = await isolatedRequest(
        `${app.url}/api/v1/tasks/h/trigger`,
        "POST",
        { authorization: `Bearer ${prod.apiKey}`, "content-type": "application/json" },
        JSON.stringify({ payload: "x".repeat(3 * 1024 * 1024 + 10) }),
      );
      expect(huge.status).toBe(413);
      expect(huge.json).toEqual({ error: "Request body too large" });
      const typed = await root("POST", "/api/v1/tasks/h/trigger", { payload: "{}", options: { maxAttempts: "three" } });
      expect(typed.status).toBe(400);
      expect(typed.json.error).toContain("options.maxAttempts");
      expect(await prisma().taskRun.count({ where: { taskIdentifier: "h" } })).toBe(0);
    });

    it("strict bodies reject unknown fields (replay)", async () => {
      const run = (await root("POST", "/api/v1/tasks/h2/trigger", { payload: "{}" })).json.id;
      const res = await root("POST", `/api/v1/runs/${run}/replay`, { bogus: 1 });
      expect(res.status).toBe(400);
      expect(res.json.error).toContain("bogus");
    });

    it("wrong methods are 405, with the one error body ({error}) and the method allowed", async () => {
      for (const path of ["/api/v1/tasks/h/trigger", "/api/v3/batches"]) {
        const res = await root("GET", path);
        expect(res.status).toBe(405);
        expect(res.json).toEqual({ error: "Method Not Allowed" });
        expect(res.headers.get("allow")).toBe("POST");
      }
    });
  });

  describe("runs in another environment are 404 exactly like missing ones", () => {
    it("retrieve, metadata, tags, cancel, replay", async () => {
      const foreign = (await api(app.url, dev.apiKey)("POST", "/api/v1/tasks/x/trigger", { payload: "{}" })).json
        .id as string;
      const calls: Array<[string, string, unknown?]> = [
        ["GET", "/api/v3/runs/ID"],
        ["GET", "/api/v1/runs/ID/metadata"],
        ["PUT", "/api/v1/runs/ID/metadata", { operations: [{ type: "set", key: "a", value: 1 }] }],
        ["POST", "/api/v1/runs/ID/tags", { tags: ["x"] }],
        ["POST", "/api/v2/runs/ID/cancel"],
        ["POST", "/api/v1/runs/ID/replay"],
      ];
      for (const [method, path, body] of calls) {
        const other = await root(method, path.replace("ID", foreign), body);
        const missing = await root(method, path.replace("ID", "run_doesnotexist0000000000"), body);
        expect(other.status, `${method} ${path}`).toBe(404);
        expect(other.json).toEqual(missing.json);
      }
      const stored = await row(foreign);
      expect(stored.status).toBe("PENDING");
      expect(stored.metadata).toBeNull();
      expect(stored.runTags).toEqual([]);
    });
  });

  describe("retrieve, cancel, replay, packets", () => {
    it("retrieve is the RetrieveRunResponse shape, by friendly or internal id", async () => {
      const id = (
        await root("POST", "/api/v1/tasks/r/trigger", {
          payload: '{"p":1}',
          options: { tags: ["x"], metadata: { m: 1 } },
        })
      ).json.id;
      const res = await root("GET", `/api/v3/runs/${id}`);
      expect(res.json).toMatchObject({
        id,
        status: "QUEUED",
        taskIdentifier: "r",
        isQueued: true,
        isCompleted: false,
        isTest: false,
        tags: ["x"],
        metadata: { m: 1 },
        payload: { p: 1 },
        depth: 0,
        triggerFunction: "trigger",
        attemptCount: 0,
        relatedRuns: {},
        costInCents: 0,
        durationMs: 0,
      });
      expect(res.json).not.toHaveProperty("idempotencyKey");
      expect(res.json).not.toHaveProperty("finishedAt");
      const internal = (await row(id)).id;
      expect((await root("GET", `/api/v3/runs/${internal}`)).json.id).toBe(id);
      const missing = await root("GET", "/api/v3/runs/run_nope");
      expect(missing.status).toBe(404);
      expect(missing.headers.get("x-should-retry")).toBe("true");
    });

    it("cancel sets CANCELED + completedAt once; final runs stay as they are", async () => {
      const id = (await root("POST", "/api/v1/tasks/k/trigger", { payload: "{}" })).json.id;
      expect((await root("POST", `/api/v2/runs/${id}/cancel`)).json).toEqual({ id });
      const first = await row(id);
      expect(first.status).toBe("CANCELED");
      expect(first.completedAt).toBeInstanceOf(Date);
      expect((await root("POST", `/api/v2/runs/${id}/cancel`)).status).toBe(200);
      expect((await row(id)).completedAt).toEqual(first.completedAt);
    });

    it("replay copies the run, overrides win, and links replayedFrom", async () => {
      const id = (
        await root("POST", "/api/v1/tasks/rp/trigger", {
          payload: '{"v":1}',
          options: { tags: ["a"], metadata: { m: 1 } },
        })
      ).json.id;
      const plain = await root("POST", `/api/v1/runs/${id}/replay`);
      const copy = await row(plain.json.id);
      expect(copy).toMatchObject({
        taskIdentifier: "rp",
        payload: '{"v":1}',
        runTags: ["a"],
        metadata: '{"m":1}',
        replayedFromTaskRunId: (await row(id)).id,
      });
      const over = await root("POST", `/api/v1/runs/${id}/replay`, { payload: { v: 2 }, tags: ["b"] });
      expect(await row(over.json.id)).toMatchObject({ payload: '{"v":2}', runTags: ["b"] });
    });

    it("packets are a 404 JSON so the SDK falls back", async () => {
      const res = await root("GET", "/api/v1/runs/run_x/packets/payload");
      expect(res.status).toBe(404);
      expect(res.json).toEqual({ error: "Packet not found" });
    });
  });

  describe("two-phase batch", () => {
    const ndjson = (items: unknown[]) => items.map((i) => JSON.stringify(i)).join("\n") + "\n";
    const nd = { "content-type": "application/x-ndjson" };

    it("creates, streams, de-duplicates by index, seals, and links runs", async () => {
      const created = await root("POST", "/api/v3/batches", { runCount: 3, idempotencyKey: "b-1" });
      expect(created.json).toEqual({
        id: expect.stringMatching(/^batch_/),
        runCount: 3,
        isCached: false,
        idempotencyKey: "b-1",
      });
      expect(decodeJwt(created.headers.get("x-trigger-jwt")!).scopes).toEqual([`read:batch:${created.json.id}`]);
      expect(JSON.parse(created.headers.get("x-trigger-jwt-claims")!)).toEqual({ sub: prod.id, pub: true });
      expect((await root("POST", "/api/v3/batches", { runCount: 3, idempotencyKey: "b-1" })).json).toMatchObject({
        id: created.json.id,
        isCached: true,
      });

      const path = `/api/v3/batches/${created.json.id}/items`;
      const part = await root(
        "POST",
        path,
        ndjson([
          { index: 0, task: "bt", payload: '{"i":0}' },
          { index: 1, task: "bt", payload: '{"i":1}' },
        ]),
        nd,
      );
      expect(part.json).toEqual({
        id: created.json.id,
        itemsAccepted: 2,
        itemsDeduplicated: 0,
        sealed: false,
        enqueuedCount: 2,
        expectedCount: 3,
      });
      const all = await root(
        "POST",
        path,
        ndjson([0, 1, 2].map((i) => ({ index: i, task: "bt", payload: `{"i":${i}}`, options: { tags: ["bt"] } }))),
        nd,
      );
      expect(all.json).toEqual({ id: created.json.id, itemsAccepted: 1, itemsDeduplicated: 2, sealed: true });
      const again = await root("POST", path, ndjson([{ index: 2, task: "bt", payload: "{}" }]), nd);
      expect(again.json).toEqual({ id: created.json.id, itemsAccepted: 0, itemsDeduplicated: 1, sealed: true });

      const batch = await prisma().batchTaskRun.findFirstOrThrow({ where: { friendlyId: created.json.id } });
      const runs = await prisma().taskRun.findMany({ where: { batchId: batch.id } });
      expect(runs.map((r) => JSON.parse(r.payload).i).sort()).toEqual([0, 1, 2]);
      expect(batch.acceptedIndexes).toEqual([0, 1, 2]);
    });

    it("a bad item leaves nothing behind; wrong content type is 415; out-of-range index is 400", async () => {
      const created = await root("POST", "/api/v3/batches", { runCount: 2 });
      const path = `/api/v3/batches/${created.json.id}/items`;
      const bad = await root(
        "POST",
        path,
        ndjson([
          { index: 0, task: "bt2", payload: "{}" },
          {
            index: 1,
            task: "bt2",
            options: {
              tags: Array(11)
                .fill(0)
                .map((_, i) => `t${i}`),
            },
          },
        ]),
        nd,
      );
      expect(bad.status).toBe(422);
      const badLine = await root("POST", path, `${JSON.stringify({ index: 0, task: "bt2" })}\n{oops\n`, nd);
      expect(badLine.status).toBe(400);
      expect(badLine.json.error).toContain("line 2");
      const badField = await root("POST", path, ndjson([{ index: -1, task: "bt2" }]), nd);
      expect(badField.json.error).toContain("index");
      expect((await root("POST", path, ndjson([{ index: 5, task: "bt2" }]), nd)).status).toBe(400);
      expect((await root("POST", path, ndjson([{ index: 0, task: "bt2" }]))).status).toBe(415);
      expect(await prisma().taskRun.count({ where: { taskIdentifier: "bt2" } })).toBe(0);
      expect(
        (await prisma().batchTaskRun.findFirstOrThrow({ where: { friendlyId: created.json.id } })).acceptedIndexes,
      ).toEqual([]);
      expect(
        (await root("POST", "/api/v3/batches/batch_nope/items", ndjson([{ index: 0, task: "x" }]), nd)).status,
      ).toBe(404);
    });

    it("rejects a bad create body naming the field", async () => {
      const res = await root("POST", "/api/v3/batches", { runCount: 0 });
      expect(res.status).toBe(400);
      expect(res.json.error).toContain("runCount");
    });
  });
});
