/**
 * Run logs end to end, once per backend: lines stored in "TaskRunLog" (directly, through appendRunLogs —
 * the write pipeline's swap point — which signals the run's log feed after its commit) → apps/shape-sync
 * (in process, on this file's database) or the native feed (no shape server) → GET
 * /realtime/v1/runs/:id/logs → @runfeed/sdk `runs.readLogs` / `runs.subscribeToLogs`. Scopes,
 * environment isolation and hostile query parameters are checked on the real route.
 */
import { generateRunFriendlyId, RUN_LOG_STREAM_COLUMNS } from "@runfeed/core";
import { AuthenticationError, NotFoundError, PermissionDeniedError, runs, type RunLogLine } from "@runfeed/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signPublicToken } from "../../app/services/auth.server.js";
import { appendRunLogs, type RunLogEntry } from "../../app/services/runLogs.server.js";
import { REALTIME_BACKENDS, type RealtimeStack, startRealtimeStack } from "../support/realtimeBackends.js";
import type { TestWebapp } from "../support/webapp.js";

let app: TestWebapp;
let stack: RealtimeStack | undefined;
const prisma = () => app.webapp.services.prisma;
const append = (lines: RunLogEntry[]) => appendRunLogs(prisma(), lines, app.webapp.services.runSignals);
const env = (i: number) => app.project.environments[i]!;

async function createRun(i: number, data: Record<string, unknown> = {}) {
  return prisma().taskRun.create({
    data: {
      friendlyId: generateRunFriendlyId(),
      taskIdentifier: "log-task",
      payload: "{}",
      runtimeEnvironmentId: env(i).id,
      projectId: app.project.projectId,
      ...data,
    },
  });
}
async function tokenFor(i: number, scopes: string[]) {
  const environment = await prisma().runtimeEnvironment.findUniqueOrThrow({
    where: { id: env(i).id },
    include: { project: true, parentEnvironment: true },
  });
  return signPublicToken(environment, { scopes }, "1h");
}
const line = (run: { id: string; runtimeEnvironmentId: string }, message: string, extra: Partial<RunLogEntry> = {}) =>
  ({
    runId: run.id,
    runtimeEnvironmentId: run.runtimeEnvironmentId,
    kind: "log",
    level: "info",
    message,
    time: new Date(),
    seq: 0,
    ...extra,
  }) satisfies RunLogEntry;
const options = (accessToken: string) => ({ baseURL: app.url, accessToken });

describe.each(REALTIME_BACKENDS)("GET /realtime/v1/runs/:runId/logs, %s backend", (backend) => {
  beforeAll(async () => {
    stack = await startRealtimeStack(backend);
    app = stack.app;
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
  });

  it("reads a run's lines in order (time, then seq), with levels, kinds and attributes", async () => {
    const run = await createRun(2);
    const t = new Date("2026-12-06T10:00:00.500Z");
    await append([
      line(run, "second", { time: t, seq: 1, level: "warn" }),
      line(run, "third", { time: new Date(t.getTime() + 1), seq: 0, kind: "event", attributes: { n: 3 } }),
      line(run, "first", { time: t, seq: 0, attributes: { nested: { a: [1, "x"] } } }),
    ]);
    const lines = await runs.readLogs(run.friendlyId, options(env(2).apiKey));
    expect(lines.map((l) => [l.message, l.level, l.kind, l.seq])).toEqual([
      ["first", "info", "log", 0],
      ["second", "warn", "log", 1],
      ["third", "info", "event", 0],
    ]);
    expect(lines[0]!.attributes).toEqual({ nested: { a: [1, "x"] } });
    expect(lines[0]!.time.toISOString()).toBe(t.toISOString());
    expect(lines[0]!.runId).toBe(run.id);
  });

  it("stores hostile text (NUL, lone surrogates, in messages and attribute keys) instead of failing the batch", async () => {
    const run = await createRun(2);
    await append([
      line(run, "nul\u0000here", { attributes: { "k\u0000": "v\ud800", ok: "😀" } }),
      line(run, "plain", { seq: 1 }),
    ]);
    const lines = await runs.readLogs(run.friendlyId, options(env(2).apiKey));
    expect(lines.map((l) => l.message)).toEqual(["nul\uFFFDhere", "plain"]);
    expect(lines[0]!.attributes).toEqual({ "k\uFFFD": "v\uFFFD", ok: "😀" });
  });

  it("a line whose key is already stored is not stored again (the pipeline's re-apply)", async () => {
    const run = await createRun(2);
    await append([line(run, "once", { id: `p0:1-0:0:${run.id}` })]);
    await append([line(run, "again", { id: `p0:1-0:0:${run.id}` }), line(run, "new", { seq: 1 })]);
    const lines = await runs.readLogs(run.friendlyId, options(env(2).apiKey));
    expect(lines.map((l) => l.message)).toEqual(["once", "new"]);
  });

  it("subscribeToLogs yields the stored lines, then new ones as they are written, each once", async () => {
    const run = await createRun(2);
    const other = await createRun(2);
    await append([line(run, "stored")]);
    const token = await tokenFor(2, [`read:runs:${run.friendlyId}`]);
    const subscription = runs.subscribeToLogs(run.friendlyId, options(token));
    const seen: RunLogLine[] = [];
    const steps = [
      () => append([line(other, "other run"), line(run, "live 1", { seq: 1 })]),
      () => append([line(run, "live 2", { seq: 2 }), line(run, "live 3", { seq: 3 })]),
    ];
    for await (const received of subscription) {
      seen.push(received);
      if (seen.length === 1 || seen.length === 2) await steps.shift()?.();
      if (seen.length === 4) break;
    }
    expect(seen.map((l) => l.message)).toEqual(["stored", "live 1", "live 2", "live 3"]);
    expect(subscription.live).toBe(true);
  });

  it("needs read on the run: other runs' scopes are refused, task/tag scopes and the secret key are granted", async () => {
    const run = await createRun(2, { runTags: ["team:logs"] });
    const unrelated = await createRun(2);
    await append([line(run, "secret stuff")]);
    const read = (token: string) => runs.readLogs(run.friendlyId, options(token));

    await expect(read(await tokenFor(2, [`read:runs:${unrelated.friendlyId}`]))).rejects.toBeInstanceOf(
      PermissionDeniedError,
    );
    await expect(read(await tokenFor(2, ["write:runs"]))).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(read(await tokenFor(2, ["read:tasks:other-task"]))).rejects.toBeInstanceOf(PermissionDeniedError);
    await expect(read("not-a-token")).rejects.toBeInstanceOf(AuthenticationError);
    for (const scopes of [
      [`read:runs:${run.friendlyId}`],
      ["read:tasks:log-task"],
      ["read:tags:team:logs"],
      ["read:runs"],
    ]) {
      expect((await read(await tokenFor(2, scopes))).map((l) => l.message)).toEqual(["secret stuff"]);
    }
    expect((await read(env(2).apiKey)).length).toBe(1);
  });

  it("isolates environments: another environment's token or key sees a 404, never the lines", async () => {
    const run = await createRun(2);
    await append([line(run, "prod only")]);
    await expect(runs.readLogs(run.friendlyId, options(env(0).apiKey))).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      runs.readLogs(run.friendlyId, options(await tokenFor(1, [`read:runs:${run.friendlyId}`, "read:all"]))),
    ).rejects.toBeInstanceOf(NotFoundError);
    // A line stored with the run's id but another environment's id is not in the run's feed either.
    await append([{ ...line(run, "forged", { seq: 1 }), runtimeEnvironmentId: env(0).id }]);
    expect((await runs.readLogs(run.friendlyId, options(env(2).apiKey))).map((l) => l.message)).toEqual(["prod only"]);
  });

  it("ignores a client's table, where, columns and params, and streams the log columns only", async () => {
    const run = await createRun(2, { payload: JSON.stringify({ status: "DEQUEUED" }) });
    await append([line(run, '"status":"DEQUEUED"')]);
    const hostile = new URLSearchParams({
      offset: "-1",
      table: `public."TaskRun"`,
      where: "1=1",
      columns: `"payload","oneTimeUseToken"`,
      "params[1]": "x",
      subset__where: "true",
      skipColumns: "message",
    });
    const response = await fetch(`${app.url}/realtime/v1/runs/${run.friendlyId}/logs?${hostile}`, {
      headers: { authorization: `Bearer ${await tokenFor(2, [`read:runs:${run.friendlyId}`])}` },
    });
    expect(response.status).toBe(200);
    expect(Object.keys(JSON.parse(response.headers.get("electric-schema")!)).sort()).toEqual(
      [...RUN_LOG_STREAM_COLUMNS].sort(),
    );
    const messages = (await response.json()) as Array<{ key?: string; value?: Record<string, unknown> }>;
    const values = messages.filter((m) => m.key).map((m) => m.value!);
    expect(values).toHaveLength(1);
    // No API-version rewrite of run statuses inside log text.
    expect(values[0]!.message).toBe('"status":"DEQUEUED"');
  });

  it("answers bad run ids and unknown runs with a JSON 4xx", async () => {
    const key = env(2).apiKey;
    const unknown = await fetch(`${app.url}/realtime/v1/runs/run_doesnotexist/logs?offset=-1`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toHaveProperty("error");
    const long = await fetch(`${app.url}/realtime/v1/runs/${"r".repeat(5000)}/logs?offset=-1`, {
      headers: { authorization: `Bearer ${key}` },
    });
    expect(long.status).toBeGreaterThanOrEqual(400);
    expect(long.status).toBeLessThan(500);
  });
});
