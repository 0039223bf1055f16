/**
 * The realtime feed end to end: the unmodified @trigger.dev/sdk 4.8.3 → webapp realtime routes →
 * apps/shape-sync (in process, on this file's database) → Postgres logical replication.
 * Runs change through Prisma updates (which bump updatedAt), as the worker would.
 */
import { randomBytes } from "node:crypto";
import { generateBatchFriendlyId, generateRunFriendlyId } from "@runfeed/core";
import { auth, configure, runs } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { signPublicToken } from "../../app/services/auth.server.js";
import { realtimeUsage } from "../../app/services/realtime/realtimeServices.server.js";
import { startWebappWithShapeServer, type WebappWithShapeServer } from "../support/shapeServer.js";
import type { TestWebapp } from "../support/webapp.js";

let app: TestWebapp;
let stack: WebappWithShapeServer | undefined;
const prisma = () => app.webapp.services.prisma;
const env = (i: number) => app.project.environments[i]!;
const SDK_HEADERS = { "x-trigger-electric-version": "1.0.0-beta.1", "x-trigger-api-version": "2025-07-16" };

async function createRun(i: number, data: Record<string, unknown> = {}) {
  return prisma().taskRun.create({
    data: {
      friendlyId: generateRunFriendlyId(),
      taskIdentifier: "feed-task",
      payload: JSON.stringify({ hello: "world" }),
      runtimeEnvironmentId: env(i).id,
      projectId: app.project.projectId,
      ...data,
    },
  });
}
async function tokenFor(i: number, scopes: string[], realtime?: { skipColumns: string[] }) {
  const environment = await prisma().runtimeEnvironment.findUniqueOrThrow({
    where: { id: env(i).id },
    include: { project: true, parentEnvironment: true },
  });
  return signPublicToken(environment, { scopes, realtime }, "1h");
}
const feed = (path: string, token: string, headers: Record<string, string> = SDK_HEADERS, signal?: AbortSignal) =>
  fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers }, signal });
type Message = { key?: string; value?: Record<string, string | null>; headers: Record<string, unknown> };
const rows = (messages: Message[]) => messages.filter((m) => m.key).map((m) => m.value!);

beforeAll(async () => {
  stack = await startWebappWithShapeServer({ REALTIME_LIMITER_ENTRY_TTL_MS: "1500" });
  app = stack.app;
  configure({ baseURL: app.url, accessToken: env(2).apiKey });
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

describe("@trigger.dev/sdk 4.8.3 subscriptions (checklist #45)", () => {
  it("subscribeToRun yields every state change in order and ends by itself at completion", async () => {
    const run = await createRun(2, { runTags: ["order:1"] });
    const token = await auth.createPublicToken({ scopes: { read: { runs: [run.friendlyId] } } });
    const steps: Array<() => Promise<unknown>> = [
      () => prisma().taskRun.update({ where: { id: run.id }, data: { status: "EXECUTING", startedAt: new Date() } }),
      () => prisma().taskRun.update({ where: { id: run.id }, data: { metadata: JSON.stringify({ progress: 50 }) } }),
      () =>
        prisma().taskRun.update({
          where: { id: run.id },
          data: { status: "COMPLETED_SUCCESSFULLY", completedAt: new Date(), output: JSON.stringify({ ok: true }) },
        }),
    ];
    const seen: Array<{ status: string; progress: unknown; output: unknown; finished: boolean }> = [];
    await auth.withAuth({ baseURL: app.url, accessToken: token }, async () => {
      for await (const update of runs.subscribeToRun(run.friendlyId)) {
        seen.push({
          status: update.status,
          progress: (update.metadata as { progress?: number } | undefined)?.progress,
          output: update.output,
          finished: Boolean(update.finishedAt),
        });
        expect(update.id).toBe(run.friendlyId);
        expect(update.createdAt.getTime()).toBe(run.createdAt.getTime());
        await steps.shift()?.();
      }
    });
    // The loop ended by itself: the SDK closes the feed once finishedAt (completedAt) is set.
    expect(seen).toEqual([
      { status: "QUEUED", progress: undefined, output: undefined, finished: false },
      { status: "EXECUTING", progress: undefined, output: undefined, finished: false },
      { status: "EXECUTING", progress: 50, output: undefined, finished: false },
      { status: "COMPLETED", progress: 50, output: { ok: true }, finished: true },
    ]);
  });

  it("subscribeToRunsWithTag with two tags sees runs carrying both, including new ones", async () => {
    const both = await createRun(2, { runTags: ["team:a", "user:1"] });
    const more = await createRun(2, { runTags: ["team:a", "user:1", "extra"] });
    const onlyOne = await createRun(2, { runTags: ["team:a"] });
    const otherEnv = await createRun(1, { runTags: ["team:a", "user:1"] });
    const token = await auth.createPublicToken({ scopes: { read: { tags: ["user:1"] } } });
    const seen = new Set<string>();
    let added: string | undefined;
    await auth.withAuth({ baseURL: app.url, accessToken: token }, async () => {
      const subscription = runs.subscribeToRunsWithTag(["team:a", "user:1"]);
      for await (const update of subscription) {
        seen.add(update.id);
        expect(update.tags).toEqual(expect.arrayContaining(["team:a", "user:1"]));
        if (!added && seen.has(both.friendlyId) && seen.has(more.friendlyId)) {
          added = (await createRun(2, { runTags: ["user:1", "team:a"] })).friendlyId;
        }
        if (added && seen.has(added)) subscription.unsubscribe();
      }
    });
    expect(seen).toEqual(new Set([both.friendlyId, more.friendlyId, added]));
    expect(seen.has(onlyOne.friendlyId) || seen.has(otherEnv.friendlyId)).toBe(false);
  });

  it("subscribeToBatch sees runs added after it started", async () => {
    const batch = await prisma().batchTaskRun.create({
      data: { friendlyId: generateBatchFriendlyId(), runtimeEnvironmentId: env(2).id, runCount: 2 },
    });
    const first = await createRun(2, { batchId: batch.id });
    const token = await auth.createPublicToken({ scopes: { read: { batch: batch.friendlyId } } });
    const seen: string[] = [];
    let second: string | undefined;
    await auth.withAuth({ baseURL: app.url, accessToken: token }, async () => {
      const subscription = runs.subscribeToBatch(batch.friendlyId);
      for await (const update of subscription) {
        if (!seen.includes(update.id)) seen.push(update.id);
        if (!second) second = (await createRun(2, { batchId: batch.id })).friendlyId;
        if (seen.includes(second)) subscription.unsubscribe();
      }
    });
    expect(seen).toEqual([first.friendlyId, second]);
  });

  it("skipColumns removes columns from rows and from electric-schema; the JWT claim replaces the URL list", async () => {
    const run = await createRun(2, { output: JSON.stringify({ big: true }), metadata: JSON.stringify({ m: 1 }) });
    const token = await tokenFor(2, [`read:runs:${run.friendlyId}`]);
    const response = await feed(
      `/realtime/v1/runs/${run.friendlyId}?log=full&offset=-1&skipColumns=payload,output,id,status`,
      token,
    );
    expect(response.status).toBe(200);
    const schema = JSON.parse(response.headers.get("electric-schema")!);
    const [row] = rows(await response.json());
    for (const column of ["payload", "output"]) {
      expect(schema).not.toHaveProperty(column);
      expect(row).not.toHaveProperty(column);
    }
    for (const column of ["id", "status", "metadata", "updatedAt"]) {
      expect(schema).toHaveProperty(column);
      expect(row).toHaveProperty(column);
    }

    const claimToken = await tokenFor(2, [`read:runs:${run.friendlyId}`], { skipColumns: ["metadata"] });
    const claimed = await feed(`/realtime/v1/runs/${run.friendlyId}?offset=-1&skipColumns=payload`, claimToken);
    const claimedSchema = JSON.parse(claimed.headers.get("electric-schema")!);
    expect(claimedSchema).not.toHaveProperty("metadata");
    expect(claimedSchema).toHaveProperty("payload");

    // Through the SDK.
    const sdkToken = await auth.createPublicToken({ scopes: { read: { runs: [run.friendlyId] } } });
    await auth.withAuth({ baseURL: app.url, accessToken: sdkToken }, async () => {
      const subscription = runs.subscribeToRun(run.friendlyId, { skipColumns: ["payload", "output"] });
      for await (const update of subscription) {
        expect(update.payload).toBeUndefined();
        expect(update.output).toBeUndefined();
        expect(update.metadata).toEqual({ m: 1 });
        subscription.unsubscribe();
      }
    });
  });
});

describe("the proxy", () => {
  it("ignores client where/table/columns/params and streams only the token's run", async () => {
    const mine = await createRun(2);
    const other = await createRun(2);
    const token = await tokenFor(2, [`read:runs:${mine.friendlyId}`]);
    const hostile = new URLSearchParams({
      offset: "-1",
      log: "full",
      where: "true",
      table: 'public."RuntimeEnvironment"',
      columns: '"apiKey"',
      "params[1]": "x",
      "params[2]": other.id,
      secret: "nope",
    });
    const response = await feed(`/realtime/v1/runs/${mine.friendlyId}?${hostile}`, token);
    expect(response.status).toBe(200);
    const found = rows(await response.json());
    expect(found.map((r) => r.friendlyId)).toEqual([mine.friendlyId]);
    expect(Object.keys(found[0]!)).not.toContain("apiKey");
    expect(Object.keys(JSON.parse(response.headers.get("electric-schema")!))).toHaveLength(26);
  });

  it("binds hostile tags as values: quotes, commas, SQL", async () => {
    const sqlTag = `'); DELETE FROM "TaskRun" WHERE ('1'='1`.replaceAll('"', "");
    const tagged = await createRun(2, { runTags: ["it's", sqlTag, "a,b"] });
    await createRun(2, { runTags: ["it's"] });
    const token = await tokenFor(2, ["read:tags"]);
    const response = await feed(`/realtime/v1/runs?offset=-1&tags=${encodeURIComponent(`it's,${sqlTag}`)}`, token);
    expect(response.status).toBe(200);
    expect(rows(await response.json()).map((r) => r.friendlyId)).toEqual([tagged.friendlyId]);
    // "a,b" is two tags on the wire: a run tagged "a,b" carries neither "a" nor "b".
    const comma = await feed(`/realtime/v1/runs?offset=-1&tags=${encodeURIComponent("a,b")}`, token);
    expect(rows(await comma.json())).toEqual([]);
    const drop = await feed(
      `/realtime/v1/runs?offset=-1&tags=${encodeURIComponent(`'; DROP TABLE "TaskRun"; --`)}`,
      token,
    );
    expect(drop.status).toBe(400);
    expect(await prisma().taskRun.count()).toBeGreaterThan(2);
  });

  it("keeps the createdAt floor for the life of a handle and across requests", async () => {
    const tag = `floor-${randomBytes(3).toString("hex")}`;
    await createRun(2, { runTags: [tag], createdAt: new Date(Date.now() - 2 * 3_600_000) });
    const recent = await createRun(2, { runTags: [tag] });
    const token = await tokenFor(2, ["read:tags"]);
    const first = await feed(`/realtime/v1/runs?log=full&offset=-1&tags=${tag}&createdAt=1h`, token);
    expect(first.status).toBe(200);
    expect(rows(await first.json()).map((r) => r.friendlyId)).toEqual([recent.friendlyId]);
    const handle = first.headers.get("electric-handle")!;
    const offset = first.headers.get("electric-offset")!;
    const cached = await app.webapp.services.redis.get(
      `${app.webapp.services.env.REDIS_KEY_PREFIX}cache:realtime:createdAtFilter:${handle}`,
    );
    expect(cached).toBeTruthy();
    // The same handle continues (no 409): the where clause and params were rebuilt identically.
    const next = await feed(
      `/realtime/v1/runs?handle=${handle}&log=full&offset=${offset}&tags=${tag}&createdAt=1h`,
      token,
    );
    expect(next.status).toBe(200);
    expect(next.headers.get("electric-handle")).toBe(handle);
    // A wider window is a different shape.
    const wide = await feed(`/realtime/v1/runs?log=full&offset=-1&tags=${tag}&createdAt=3h`, token);
    expect(rows(await wide.json())).toHaveLength(2);
  });

  it("passes 409 must-refetch through with its new handle, and exposes electric headers to browsers", async () => {
    const run = await createRun(2);
    const token = await tokenFor(2, [`read:runs:${run.friendlyId}`]);
    const stale = await feed(`/realtime/v1/runs/${run.friendlyId}?handle=not-a-handle&offset=0_0`, token, {
      ...SDK_HEADERS,
      origin: "https://app.example",
    });
    expect(stale.status).toBe(409);
    expect(stale.headers.get("electric-handle")).toBeTruthy();
    expect(JSON.stringify(await stale.json())).toContain("must-refetch");
    const ok = await feed(`/realtime/v1/runs/${run.friendlyId}?offset=-1`, token, {
      ...SDK_HEADERS,
      origin: "https://app.example",
    });
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    const exposed = ok.headers.get("access-control-expose-headers")!;
    for (const h of ["electric-handle", "electric-offset", "electric-schema", "electric-cursor", "electric-up-to-date"])
      expect(exposed).toContain(h);
    expect(ok.headers.get("content-encoding")).toBeNull();
    await ok.arrayBuffer();
  });

  it("rewrites DEQUEUED to EXECUTING only for clients without the current API version (#19)", async () => {
    const run = await createRun(2, { status: "DEQUEUED" });
    const token = await tokenFor(2, [`read:runs:${run.friendlyId}`]);
    const current = rows(await (await feed(`/realtime/v1/runs/${run.friendlyId}?offset=-1`, token)).json());
    expect(current[0]!.status).toBe("DEQUEUED");
    const legacy = rows(await (await feed(`/realtime/v1/runs/${run.friendlyId}?offset=-1`, token, {})).json());
    expect(legacy[0]!.status).toBe("EXECUTING");
  });
});

describe("concurrency limit over HTTP (checklist #37)", () => {
  it("admits exactly N of N+k concurrent live polls, 429s the rest, and releases aborted ones", async () => {
    const environment = env(0);
    await prisma().runtimeEnvironment.update({ where: { id: environment.id }, data: { realtimeConcurrencyLimit: 3 } });
    const run = await createRun(0);
    const token = await tokenFor(0, ["read:runs"]);
    const initial = await feed(`/realtime/v1/runs/${run.friendlyId}?log=full&offset=-1`, token);
    const handle = initial.headers.get("electric-handle")!;
    const offset = initial.headers.get("electric-offset")!;
    await initial.arrayBuffer();
    const live = `/realtime/v1/runs/${run.friendlyId}?cursor=&handle=${handle}&live=true&log=full&offset=${offset}`;

    const controllers = Array.from({ length: 5 }, () => new AbortController());
    const settled: number[] = [];
    const outcomes = controllers.map((c) =>
      feed(live, token, SDK_HEADERS, c.signal).then(
        async (r) => {
          const outcome = { status: r.status, body: r.status === 429 ? await r.json() : await r.text() };
          settled.push(r.status);
          return outcome;
        },
        () => ({ status: 0, body: undefined }),
      ),
    );
    // Three are held upstream (long-poll, 20 s) and counted; the other two were refused at once.
    await vi.waitFor(
      async () => {
        expect((await realtimeUsage(app.webapp.services, [environment.id]))[environment.id]).toBe(3);
      },
      { timeout: 10_000, interval: 50 },
    );
    await vi.waitFor(() => expect(settled).toEqual([429, 429]), { timeout: 10_000, interval: 20 });

    controllers.forEach((c) => c.abort());
    const results = await Promise.all(outcomes);
    expect(results.filter((r) => r.status === 429)).toHaveLength(2);
    expect(results.filter((r) => r.status === 429).every((r) => r.body.error === "Too many concurrent requests")).toBe(
      true,
    );
    expect(results.filter((r) => r.status === 0)).toHaveLength(3);
    // Aborted polls release their slots.
    await vi.waitFor(
      async () => {
        expect((await realtimeUsage(app.webapp.services, [environment.id]))[environment.id]).toBe(0);
      },
      { timeout: 5_000, interval: 50 },
    );
    const again = new AbortController();
    const held = feed(live, token, SDK_HEADERS, again.signal).catch(() => undefined);
    await vi.waitFor(
      async () => {
        expect((await realtimeUsage(app.webapp.services, [environment.id]))[environment.id]).toBe(1);
      },
      { timeout: 5_000, interval: 50 },
    );
    again.abort();
    await held;
  });

  it("streams SSE live responses and holds their slot until the stream ends", async () => {
    const environment = env(1);
    const run = await createRun(1);
    const token = await tokenFor(1, [`read:runs:${run.friendlyId}`]);
    const initial = await feed(`/realtime/v1/runs/${run.friendlyId}?log=full&offset=-1`, token);
    const query = `cursor=&handle=${initial.headers.get("electric-handle")}&live=true&live_sse=true&log=full&offset=${initial.headers.get("electric-offset")}`;
    await initial.arrayBuffer();
    const controller = new AbortController();
    const response = await feed(`/realtime/v1/runs/${run.friendlyId}?${query}`, token, SDK_HEADERS, controller.signal);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    expect(response.headers.get("content-encoding")).toBeNull();
    const usage = async () => (await realtimeUsage(app.webapp.services, [environment.id]))[environment.id];
    expect(await usage()).toBe(1);
    const reader = response.body!.getReader();
    await prisma().taskRun.update({ where: { id: run.id }, data: { status: "EXECUTING" } });
    let text = "";
    while (!text.includes("EXECUTING")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    expect(text).toMatch(/^data: /);
    expect(text).toContain(run.id);
    expect(await usage()).toBe(1); // still streaming: still counted
    controller.abort();
    await reader.cancel().catch(() => {});
    await vi.waitFor(async () => expect(await usage()).toBe(0), { timeout: 5_000, interval: 50 });
  });
});

describe("tag feed vs the database (seeded)", () => {
  it("every tags × createdAt query returns exactly the runs that carry all the tags inside the window", async () => {
    const ns = `d${randomBytes(3).toString("hex")}-`;
    const pool = [`${ns}a`, `${ns}b`, `${ns}it's`, `${ns}x y`, `${ns}ü`];
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const MIN = 60_000;
    const ages = [5 * MIN, 45 * MIN, 120 * MIN, 30 * 60 * MIN]; // far from every window edge below
    const made: Array<{ id: string; tags: string[]; ageMs: number }> = [];
    for (let i = 0; i < 40; i++) {
      const tags = pool.filter(() => random() < 0.4);
      const ageMs = ages[Math.floor(random() * ages.length)]!;
      const run = await createRun(1, { runTags: tags, createdAt: new Date(Date.now() - ageMs) });
      made.push({ id: run.friendlyId, tags, ageMs });
    }
    const token = await tokenFor(1, ["read:tags"]);
    const windows: Array<[string | undefined, number]> = [
      [undefined, 24 * 60 * MIN],
      ["30m", 30 * MIN],
      ["1h", 60 * MIN],
      ["6h", 360 * MIN],
      ["2d", 24 * 60 * MIN],
    ];
    const mismatches: string[] = [];
    for (let q = 0; q < 15; q++) {
      const tags = pool.filter(() => random() < 0.3).slice(0, 2);
      if (tags.length === 0) tags.push(pool[q % pool.length]!);
      const [createdAt, windowMs] = windows[q % windows.length]!;
      const query = `offset=-1&tags=${encodeURIComponent(tags.join(","))}${createdAt ? `&createdAt=${createdAt}` : ""}`;
      const response = await feed(`/realtime/v1/runs?${query}`, token);
      expect(response.status, query).toBe(200);
      const got = rows(await response.json())
        .map((r) => r.friendlyId)
        .sort();
      const expected = made
        .filter((m) => tags.every((t) => m.tags.includes(t)) && m.ageMs < windowMs)
        .map((m) => m.id)
        .sort();
      if (got.join() !== expected.join()) mismatches.push(`${query}: expected ${expected.length}, got ${got.length}`);
    }
    expect(mismatches).toEqual([]);
  });
});
