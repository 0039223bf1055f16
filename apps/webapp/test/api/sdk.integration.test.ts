/**
 * The unmodified npm @trigger.dev/sdk 4.8.3 against a real webapp: trigger, retrieve, metadata, public tokens, cancel, replay, batch.
 */
import { auth, configure, runs, tasks } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { api, createAdditionalKey } from "./helpers.js";

describe("@trigger.dev/sdk 4.8.3 against runfeed", () => {
  let app: TestWebapp;
  let rootKey: string;
  beforeAll(async () => {
    app = await startTestWebapp();
    rootKey = app.project.environments.find((e) => e.slug === "prod")!.apiKey;
    configure({ baseURL: app.url, accessToken: rootKey });
  });
  afterAll(() => app?.close());

  it("triggers a run and retrieves it", async () => {
    const handle = await tasks.trigger(
      "sdk-task",
      { hello: "world" },
      { tags: ["sdk", "env:prod"], metadata: { progress: 0 } },
    );
    expect(handle.id).toMatch(/^run_[a-z0-9]{25}$/);
    expect(handle.publicAccessToken).toBeTruthy();

    const run = await runs.retrieve(handle.id);
    expect(run.id).toBe(handle.id);
    expect(run.taskIdentifier).toBe("sdk-task");
    expect(run.status).toBe("QUEUED");
    expect(run.isQueued).toBe(true);
    expect(run.payload).toEqual({ hello: "world" });
    expect(run.tags).toEqual(["sdk", "env:prod"]);
    expect(run.metadata).toEqual({ progress: 0 });
    expect(run.createdAt).toBeInstanceOf(Date);

    // The token from the trigger response reads exactly that run.
    const asToken = api(app.url, handle.publicAccessToken);
    expect((await asToken("GET", `/api/v3/runs/${handle.id}`)).status).toBe(200);
  });

  it("loses no increment with 20 concurrent writers × 10 increments", async () => {
    const handle = await tasks.trigger("sdk-counter", {});
    const put = api(app.url, rootKey);
    const writers = Array.from({ length: 20 }, async (_, w) => {
      for (let i = 0; i < 10; i++) {
        // The body the SDK's metadata flush sends.
        const res = await put("PUT", `/api/v1/runs/${handle.id}/metadata`, {
          operations: [
            { type: "increment", key: "count", value: 1 },
            { type: "increment", key: `$.byWriter`, value: 0 },
            { type: "append", key: "log", value: `${w}:${i}` },
          ],
        });
        expect(res.status, res.text).toBe(200);
      }
    });
    await Promise.all(writers);
    const read = await put("GET", `/api/v1/runs/${handle.id}/metadata`);
    expect(read.json.metadata.count).toBe(200);
    expect(read.json.metadata.log).toHaveLength(200);
    expect(new Set(read.json.metadata.log).size).toBe(200);
    const run = await runs.retrieve(handle.id);
    expect(run.metadata?.count).toBe(200);
  }, 120_000); // 200 requests through Vite dev mode on a shared 2-core machine: seconds, not milliseconds

  it("creates a public token (root key: claims + local signing) that the server accepts", async () => {
    const handle = await tasks.trigger("sdk-token", { n: 1 });
    const other = await tasks.trigger("sdk-token", { n: 2 });
    const token = await auth.createPublicToken({ scopes: { read: { runs: [handle.id] } }, expirationTime: "1h" });

    const run = await auth.withAuth({ accessToken: token }, () => runs.retrieve(handle.id));
    expect(run.id).toBe(handle.id);
    const denied = await api(app.url, token)("GET", `/api/v3/runs/${other.id}`);
    expect(denied.status).toBe(403);
    expect(denied.json).toEqual({
      error: "Unauthorized",
      code: "unauthorized",
      param: "access_token",
      type: "authorization",
    });
  });

  it("creates a public token through /api/v1/auth/public-tokens with an additional key", async () => {
    const prod = app.project.environments.find((e) => e.slug === "prod")!;
    const handle = await tasks.trigger("sdk-token", { n: 3 });
    const additional = await createAdditionalKey(app.webapp.services.prisma, prod, ["read:runs"]);
    const token = await auth.withAuth({ accessToken: additional }, () =>
      auth.createPublicToken({ scopes: { read: { runs: [handle.id] } }, expirationTime: "30m" }),
    );
    const run = await auth.withAuth({ accessToken: token }, () => runs.retrieve(handle.id));
    expect(run.id).toBe(handle.id);

    await expect(
      auth.withAuth({ accessToken: additional }, () =>
        auth.createPublicToken({ scopes: { write: { runs: [handle.id] } } }),
      ),
    ).rejects.toThrow();
  });

  it("cancels and replays through the SDK", async () => {
    const handle = await tasks.trigger("sdk-cancel", { n: 1 }, { tags: ["t1"] });
    await runs.cancel(handle.id);
    const canceled = await runs.retrieve(handle.id);
    expect(canceled.status).toBe("CANCELED");
    expect(canceled.isCancelled).toBe(true);
    expect(canceled.finishedAt).toBeInstanceOf(Date);

    const replayed = await runs.replay(handle.id);
    expect(replayed.id).not.toBe(handle.id);
    const run = await runs.retrieve(replayed.id);
    expect(run.payload).toEqual({ n: 1 });
    expect(run.tags).toEqual(["t1"]);
    expect(run.status).toBe("QUEUED");
  });

  it("batch-triggers through the two-phase flow", async () => {
    const result = await tasks.batchTrigger("sdk-batch", [
      { payload: { i: 0 } },
      { payload: { i: 1 } },
      { payload: { i: 2 } },
    ]);
    expect(result.batchId).toMatch(/^batch_/);
    const rows = await app.webapp.services.prisma.taskRun.findMany({
      where: { batch: { friendlyId: result.batchId } },
      orderBy: { createdAt: "asc" },
    });
    // The SDK sends batch item payloads as super+json packets.
    expect(rows.every((r) => r.payloadType === "application/super+json")).toBe(true);
    expect(rows.map((r) => JSON.parse(r.payload).json.i).sort()).toEqual([0, 1, 2]);
    const retrieved = await runs.retrieve(rows[0]!.friendlyId);
    expect(retrieved.batchId).toBe(result.batchId);
    expect(retrieved.payload).toEqual({ i: JSON.parse(rows[0]!.payload).json.i });
  });
});
