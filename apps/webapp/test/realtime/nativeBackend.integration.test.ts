/**
 * The native realtime backend's own promises (docs/decisions/073-realtime-notifier-backend.md): live
 * requests woken by the signals the real write paths publish (the backstop is set far beyond the test's
 * timeout, so only a signal can answer them), resumption across a webapp restart, and one shared
 * resolution for thousands of live subscribers of a hot tag.
 */
import { Ability, generateRunFriendlyId } from "@runfeed/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseEnv } from "../../app/env.server.js";
import type { Authentication } from "../../app/services/auth.server.js";
import { serveNativeFeed } from "../../app/services/realtime/native/nativeFeed.server.js";
import { createServices, type Services } from "../../app/services/services.server.js";
import { createRunEngine } from "../../app/worker/createWorker.server.js";
import { SDK_HEADERS } from "../api/helpers.js";
import { runChanged } from "../support/realtimeBackends.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";

let app: TestWebapp;
const env = (i: number) => app.project.environments[i]!;
const services = () => app.webapp.services;
type Message = { key?: string; value?: Record<string, string | null>; headers: Record<string, unknown> };

const api = (method: string, path: string, body?: unknown) =>
  fetch(`${app.url}${path}`, {
    method,
    headers: { ...SDK_HEADERS, authorization: `Bearer ${env(0).apiKey}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
const feed = (path: string, signal?: AbortSignal) =>
  fetch(`${app.url}${path}`, { headers: { ...SDK_HEADERS, authorization: `Bearer ${env(0).apiKey}` }, signal });

/** offset=-1, then the catch-up request: the live query string for the feed at `path`. */
async function goLive(path: string, query = "") {
  const initial = await feed(`${path}?offset=-1${query}`);
  expect(initial.status).toBe(200);
  const handle = initial.headers.get("electric-handle")!;
  await initial.arrayBuffer();
  const catchUp = await feed(`${path}?offset=${initial.headers.get("electric-offset")}&handle=${handle}${query}`);
  expect(catchUp.headers.has("electric-up-to-date")).toBe(true);
  await catchUp.arrayBuffer();
  return `${path}?live=true&cursor=&handle=${handle}&offset=${catchUp.headers.get("electric-offset")}${query}`;
}
const changes = async (response: Response) => ((await response.json()) as Message[]).filter((m) => m.key);

beforeAll(async () => {
  app = await startTestWebapp({
    REALTIME_BACKEND: "native",
    ELECTRIC_ORIGIN: "http://127.0.0.1:9",
    REALTIME_NOTIFIER_LIVE_POLL_TIMEOUT_MS: "600000",
  });
}, 120_000);
afterAll(() => app?.close());

describe("signals from the write paths wake live requests", () => {
  it("trigger → tag feed; tags → tag feed; metadata → run feed; cancel → run feed", async () => {
    const tag = `sig-${Date.now()}`;
    const tagLive = feed(await goLive("/realtime/v1/runs", `&tags=${tag}`));
    const triggered = await api("POST", "/api/v1/tasks/signal-task/trigger", {
      payload: "{}",
      options: { tags: [tag] },
    });
    expect(triggered.status).toBe(200);
    const runId = ((await triggered.json()) as { id: string }).id;
    const inserted = await changes(await tagLive);
    expect(inserted.map((m) => [m.headers.operation, m.value!.friendlyId])).toEqual([["insert", runId]]);

    const other = `${tag}-b`;
    const otherLive = feed(await goLive("/realtime/v1/runs", `&tags=${other}`));
    expect((await api("POST", `/api/v1/runs/${runId}/tags`, { tags: [other] })).status).toBe(200);
    expect((await changes(await otherLive)).map((m) => m.value!.friendlyId)).toEqual([runId]);

    const runPath = `/realtime/v1/runs/${runId}`;
    const runLive = feed(await goLive(runPath));
    expect((await api("PUT", `/api/v1/runs/${runId}/metadata`, { metadata: { step: 1 } })).status).toBe(200);
    const updated = await changes(await runLive);
    expect(updated.map((m) => [m.headers.operation, JSON.parse(m.value!.metadata!)])).toEqual([
      ["update", { step: 1 }],
    ]);

    const cancelLive = feed(await goLive(runPath));
    expect((await api("POST", `/api/v2/runs/${runId}/cancel`)).status).toBe(200);
    expect((await changes(await cancelLive)).map((m) => m.value!.status)).toEqual(["CANCELED"]);
    expect(services().runSignals.connections).toBe(2);
  });
});

describe("signals from the timers and the streams", () => {
  it("a schedule's tick → tag feed (its schedule tag); a stream listed on its run → run feed", async () => {
    const s = services();
    const created = await api("POST", "/api/v1/schedules", {
      task: "scheduled-task",
      cron: "* * * * * *",
      deduplicationKey: `signals-${Date.now()}`,
    });
    expect(created.status).toBe(200);
    const schedule = ((await created.json()) as { id: string }).id;
    const tickLive = feed(await goLive("/realtime/v1/runs", `&tags=schedule:${schedule}`));
    // The lifecycle's timers run where a worker runs: here, beside this webapp's services.
    const engine = createRunEngine({ ...s, signals: s.runSignals });
    await engine.start();
    try {
      const ticked = await changes(await tickLive);
      expect(ticked.map((m) => [m.headers.operation, m.value!.taskIdentifier])).toEqual([["insert", "scheduled-task"]]);
    } finally {
      await engine.stop();
      await api("DELETE", `/api/v1/schedules/${schedule}`);
    }

    const triggered = await api("POST", "/api/v1/tasks/stream-task/trigger", { payload: "{}" });
    const runId = ((await triggered.json()) as { id: string }).id;
    const runLive = feed(await goLive(`/realtime/v1/runs/${runId}`));
    expect((await api("PUT", `/realtime/v1/streams/${runId}/self/out`)).status).toBe(202);
    const listed = await changes(await runLive);
    expect(listed.map((m) => [m.headers.operation, m.value!.realtimeStreams])).toEqual([["update", "{out}"]]);
  });
});

describe("a webapp restart", () => {
  it("resumes a run feed's handle and offset, and answers a tag feed's handle 409 must-refetch", async () => {
    const tag = `restart-${Date.now()}`;
    const triggered = await api("POST", "/api/v1/tasks/restart-task/trigger", {
      payload: "{}",
      options: { tags: [tag] },
    });
    const runId = ((await triggered.json()) as { id: string }).id;
    const runLive = await goLive(`/realtime/v1/runs/${runId}`);
    const tagLive = await goLive("/realtime/v1/runs", `&tags=${tag}`);

    // A second instance on the same database and Redis: what a restarted webapp starts from.
    const restarted = createServices(parseEnv(envOf(services())));
    try {
      const authentication: Authentication = {
        type: "SECRET_KEY",
        environment: await restarted.prisma.runtimeEnvironment.findUniqueOrThrow({
          where: { id: env(0).id },
          include: { project: true, parentEnvironment: true },
        }),
        ability: Ability.full(),
      };
      const run = await restarted.prisma.taskRun.findFirstOrThrow({ where: { friendlyId: runId } });
      const ask = (path: string, feedOf: Parameters<typeof serveNativeFeed>[0]["feed"], createdAt?: string) =>
        serveNativeFeed({
          services: restarted,
          query: path.slice(path.indexOf("?") + 1).replace("live=true&", ""),
          origin: null,
          authentication,
          feed: feedOf,
          apiVersion: "2025-07-16",
          signal: new AbortController().signal,
          createdAt,
        });
      const resumed = await ask(runLive, { kind: "run", runId: run.id });
      expect(resumed.status).toBe(200);
      expect(resumed.headers).toContain("electric-up-to-date");
      const refetch = await ask(tagLive, { kind: "tags", tags: [tag] });
      expect(refetch.status).toBe(409);
      expect(JSON.parse(String(refetch.body))).toEqual([{ headers: { control: "must-refetch" } }]);
    } finally {
      await restarted.close();
    }
  });
});

describe("a hot tag with 5,000 live subscribers", () => {
  it("costs about one resolve + hydrate per second under 100 updates a second, not one per subscriber", async () => {
    const s = services();
    const tag = `hot-${Date.now()}`;
    const runs = await Promise.all(
      Array.from({ length: 10 }, () =>
        s.prisma.taskRun.create({
          data: {
            friendlyId: generateRunFriendlyId(),
            taskIdentifier: "hot-task",
            payload: "{}",
            runtimeEnvironmentId: env(1).id,
            projectId: app.project.projectId,
            runTags: [tag],
          },
        }),
      ),
    );
    const authentication: Authentication = {
      type: "SECRET_KEY",
      environment: await s.prisma.runtimeEnvironment.findUniqueOrThrow({
        where: { id: env(1).id },
        include: { project: true, parentEnvironment: true },
      }),
      ability: Ability.full(),
    };
    const stop = new AbortController();
    const ask = (query: string) =>
      serveNativeFeed({
        services: s,
        query: `${query}&skipColumns=payload,output,metadata,error`,
        origin: null,
        authentication,
        feed: { kind: "tags", tags: [tag] },
        apiVersion: "2025-07-16",
        signal: stop.signal,
      });
    const SUBSCRIBERS = 5_000;
    const lastSeen = new Array<number>(SUBSCRIBERS).fill(0);
    let live = 0;
    const subscriber = async (i: number) => {
      const initial = await ask("offset=-1");
      const handle = initial.headers[initial.headers.indexOf("electric-handle") + 1]!;
      let offset = initial.headers[initial.headers.indexOf("electric-offset") + 1]!;
      live++;
      while (!stop.signal.aborted) {
        const reply = await ask(`live=true&handle=${handle}&offset=${offset}`);
        if (reply.status !== 200) return;
        offset = reply.headers[reply.headers.indexOf("electric-offset") + 1]!;
        for (const m of JSON.parse(String(reply.body)) as Message[])
          if (m.key) lastSeen[i] = Math.max(lastSeen[i]!, Number(m.value!.number));
      }
    };
    const loops = Array.from({ length: SUBSCRIBERS }, (_, i) => subscriber(i));
    await vi.waitFor(() => expect(live).toBe(SUBSCRIBERS), {
      timeout: 60_000,
      interval: 100,
    });

    // 100 updates a second for 3 seconds, each followed by its signal as the write paths send it.
    const before = s.realtime.native.rows.queries;
    const started = performance.now();
    for (let n = 1; n <= 300; n++) {
      const run = runs[n % runs.length]!;
      const updated = await s.prisma.taskRun.update({ where: { id: run.id }, data: { number: n } });
      runChanged(s, updated);
      const due = started + n * 10 - performance.now();
      if (due > 0) await new Promise((resolve) => setTimeout(resolve, due));
    }
    const seconds = (performance.now() - started) / 1000;
    // Every subscriber sees the last update…
    await vi.waitFor(() => expect(lastSeen.filter((n) => n === 300)).toHaveLength(SUBSCRIBERS), {
      timeout: 60_000,
      interval: 100,
    });
    const queries = s.realtime.native.rows.queries - before;
    stop.abort();
    await Promise.all(loops);
    // …for about one resolution per REALTIME_NOTIFIER_RUNSET_CACHE_TTL_MS (1 s), not one per subscriber.
    expect(queries).toBeLessThanOrEqual(Math.ceil(seconds) + 3);
  }, 180_000);
});

/** The env a second instance needs to reach this test's database and Redis. */
function envOf(services: Services): Record<string, string> {
  const e = services.env;
  return {
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    DATABASE_URL: e.DATABASE_URL,
    REDIS_URL: e.REDIS_URL,
    REDIS_KEY_PREFIX: e.REDIS_KEY_PREFIX,
    REALTIME_BACKEND: "native",
    ELECTRIC_ORIGIN: "http://127.0.0.1:9",
    WORKER_ENABLED: "false",
    WRITE_PIPELINE_DRAIN_ENABLED: "false",
  };
}
