/**
 * A run's log feed on the native backend (docs/decisions/090-run-logs.md, 073), beyond what the shared
 * run-log suite checks on both backends: live requests woken by every path that writes log lines (the
 * backstop is set far beyond the test's timeout, so only a signal can answer them), over long-poll and
 * SSE; a line committed after a later one is never passed over; and a handle and offset resumed by
 * another instance (a restarted webapp).
 */
import { Ability, generateRunFriendlyId, LIVE_SSE_PARAM } from "@runfeed/core";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parseEnv } from "../../app/env.server.js";
import type { Authentication } from "../../app/services/auth.server.js";
import { serveNativeLogFeed } from "../../app/services/realtime/native/nativeLogFeed.server.js";
import { appendRunLogs, type RunLogEntry, runLogWriter } from "../../app/services/runLogs.server.js";
import { createServices } from "../../app/services/services.server.js";
import { SDK_HEADERS } from "../api/helpers.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";

let app: TestWebapp;
const env = () => app.project.environments[0]!;
const services = () => app.webapp.services;
type Message = { key?: string; value?: Record<string, string | null>; headers: Record<string, unknown> };

const feed = (path: string, signal?: AbortSignal) =>
  fetch(`${app.url}${path}`, { headers: { ...SDK_HEADERS, authorization: `Bearer ${env().apiKey}` }, signal });
const messagesOf = async (response: Response) => {
  expect(response.status).toBe(200);
  return ((await response.json()) as Message[]).filter((m) => m.key).map((m) => m.value!.message);
};

async function createRun() {
  return services().prisma.taskRun.create({
    data: {
      friendlyId: generateRunFriendlyId(),
      taskIdentifier: "log-task",
      payload: "{}",
      runtimeEnvironmentId: env().id,
      projectId: app.project.projectId,
    },
  });
}
const line = (run: { id: string; runtimeEnvironmentId: string }, message: string): RunLogEntry => ({
  runId: run.id,
  runtimeEnvironmentId: run.runtimeEnvironmentId,
  kind: "log",
  level: "info",
  message,
  time: new Date(),
  seq: 0,
});

/** offset=-1 on the run's log feed: its handle and offset (and the lines it answered). */
async function start(friendlyId: string) {
  const initial = await feed(`/realtime/v1/runs/${friendlyId}/logs?offset=-1`);
  const lines = await messagesOf(initial);
  return {
    lines,
    handle: initial.headers.get("electric-handle")!,
    offset: initial.headers.get("electric-offset")!,
  };
}
const liveQuery = (at: { handle: string; offset: string }) =>
  `live=true&cursor=&handle=${at.handle}&offset=${at.offset}`;

beforeAll(async () => {
  app = await startTestWebapp({
    REALTIME_BACKEND: "native",
    ELECTRIC_ORIGIN: "http://127.0.0.1:9",
    REALTIME_NOTIFIER_LIVE_POLL_TIMEOUT_MS: "600000",
  });
}, 120_000);
afterAll(() => app?.close());

describe("signals from the log write paths wake live log requests", () => {
  it("the write pipeline's drain, the direct append, the worker's fallback when the buffer refuses", async () => {
    const run = await createRun();
    const path = `/realtime/v1/runs/${run.friendlyId}/logs`;
    let at: { handle: string; offset: string } = await start(run.friendlyId);
    const wait = async (write: () => Promise<unknown>) => {
      const live = feed(`${path}?${liveQuery(at)}`);
      await write();
      const response = await live;
      const next = { handle: at.handle, offset: response.headers.get("electric-offset")! };
      const lines = await messagesOf(response);
      at = next;
      return lines;
    };

    const buffered = () =>
      fetch(`${app.url}/api/v1/logs/batch`, {
        method: "POST",
        headers: { ...SDK_HEADERS, authorization: `Bearer ${env().apiKey}` },
        body: JSON.stringify({ items: [{ runId: run.friendlyId, message: "through the drain" }] }),
      }).then((r) => expect(r.status).toBe(202));
    expect(await wait(buffered)).toEqual(["through the drain"]);

    const direct = () => appendRunLogs(services().prisma, [line(run, "direct")], services().runSignals);
    expect(await wait(direct)).toEqual(["direct"]);

    const refused = runLogWriter(services().prisma, async () => ({ kind: "refused" }), services().runSignals);
    expect(await wait(() => refused([line(run, "fallback")]))).toEqual(["fallback"]);

    // The offsets only moved forward, and a fresh read holds every line once, in commit order.
    expect((await start(run.friendlyId)).lines).toEqual(["through the drain", "direct", "fallback"]);
  }, 30_000);

  it("an event stream (live_sse) writes each new line as it is committed", async () => {
    const run = await createRun();
    const at = await start(run.friendlyId);
    const stop = new AbortController();
    const response = await feed(
      `/realtime/v1/runs/${run.friendlyId}/logs?${liveQuery(at)}&${LIVE_SSE_PARAM}=true`,
      stop.signal,
    );
    expect(response.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) text += decoder.decode((await reader.read()).value, { stream: true });
    };
    await appendRunLogs(services().prisma, [line(run, "sse one")], services().runSignals);
    await readUntil('"sse one"');
    await appendRunLogs(services().prisma, [line(run, "sse two")], services().runSignals);
    await readUntil('"sse two"');
    stop.abort();
    const events = text
      .split("\n\n")
      .filter((e) => e.startsWith("data: "))
      .map((e) => JSON.parse(e.slice(6)) as Message);
    expect(events.filter((m) => m.key).map((m) => [m.headers.operation, m.value!.message])).toEqual([
      ["insert", "sse one"],
      ["insert", "sse two"],
    ]);
    expect(events.filter((m) => m.headers.control === "up-to-date")).toHaveLength(2);
  });
});

describe("commit order", () => {
  it("a line committed after a later-started one is delivered, not passed over, live too", async () => {
    const run = await createRun();
    const path = `/realtime/v1/runs/${run.friendlyId}/logs`;
    const at = await start(run.friendlyId);
    const client = new pg.Client({ connectionString: services().env.DATABASE_URL });
    await client.connect();
    try {
      // A transaction stores a line and stays open while a later one commits.
      await client.query("BEGIN");
      await client.query(
        `INSERT INTO "TaskRunLog" ("id", "runId", "runtimeEnvironmentId", "message", "time") VALUES ($1, $2, $3, 'slow', now())`,
        [`slow-${run.id}`, run.id, run.runtimeEnvironmentId],
      );
      await appendRunLogs(services().prisma, [line(run, "quick")], services().runSignals);
      const meanwhile = await feed(`${path}?handle=${at.handle}&offset=${at.offset}`);
      expect(meanwhile.headers.get("electric-offset")).toBe(at.offset);
      expect(await messagesOf(meanwhile)).toEqual([]);
      // A live request reads while "slow" is still open, then "slow" commits with no signal at all (the
      // backstop is out of reach): the request looks again while committed lines wait to be final.
      const rows = services().realtime.native.rows;
      const queriesBefore = rows.queries;
      const live = feed(`${path}?${liveQuery(at)}`);
      await vi.waitFor(() => expect(rows.queries).toBeGreaterThan(queriesBefore), { interval: 5 });
      await client.query("COMMIT");
      expect(await messagesOf(await live)).toEqual(["slow", "quick"]);
    } finally {
      await client.end();
    }
  });
});

describe("a webapp restart", () => {
  it("resumes a log feed's handle and offset on another instance, and refuses another feed's handle", async () => {
    const run = await createRun();
    await appendRunLogs(services().prisma, [line(run, "before")], services().runSignals);
    const at = await start(run.friendlyId);
    expect(at.lines).toEqual(["before"]);
    await appendRunLogs(services().prisma, [line(run, "after")], services().runSignals);

    // A second instance on the same database and Redis: what a restarted webapp starts from.
    const e = services().env;
    const restarted = createServices(
      parseEnv({
        NODE_ENV: "test",
        LOG_LEVEL: "warn",
        DATABASE_URL: e.DATABASE_URL,
        REDIS_URL: e.REDIS_URL,
        REDIS_KEY_PREFIX: e.REDIS_KEY_PREFIX,
        REALTIME_BACKEND: "native",
        ELECTRIC_ORIGIN: "http://127.0.0.1:9",
        WORKER_ENABLED: "false",
        WRITE_PIPELINE_DRAIN_ENABLED: "false",
      }),
    );
    try {
      const authentication: Authentication = {
        type: "SECRET_KEY",
        environment: await restarted.prisma.runtimeEnvironment.findUniqueOrThrow({
          where: { id: env().id },
          include: { project: true, parentEnvironment: true },
        }),
        ability: Ability.full(),
      };
      const ask = (query: string) =>
        serveNativeLogFeed({
          services: restarted,
          query,
          origin: null,
          authentication,
          feed: { kind: "logs", runId: run.id },
          apiVersion: "2025-07-16",
          signal: new AbortController().signal,
        });
      const resumed = await ask(`handle=${at.handle}&offset=${at.offset}`);
      expect(resumed.status).toBe(200);
      expect(resumed.headers).toContain("electric-up-to-date");
      const lines = (JSON.parse(String(resumed.body)) as Message[]).filter((m) => m.key);
      expect(lines.map((m) => m.value!.message)).toEqual(["after"]);
      const moved = resumed.headers[resumed.headers.indexOf("electric-offset") + 1]!;
      expect(BigInt(moved.split("_")[0]!)).toBeGreaterThan(BigInt(at.offset.split("_")[0]!));

      const foreign = await ask(`handle=someone-elses-handle&offset=${at.offset}`);
      expect(foreign.status).toBe(409);
      expect(JSON.parse(String(foreign.body))).toEqual([{ headers: { control: "must-refetch" } }]);
    } finally {
      await restarted.close();
    }
  });
});
