/**
 * Realtime streams over raw HTTP: who may write and read (secret keys, the run's own token, public
 * tokens by run/tags/batch/task, other environments), caps, bad bodies, idempotent retried lines,
 * the reader limit, the ways a stream ends (run finished, idle writer, a writer killed mid-line), input
 * streams, and reader options.
 */
import { spawn } from "node:child_process";
import { request as httpRequest } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { signJwt } from "../api/helpers.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { readSse } from "./streamsSupport.js";

let app: TestWebapp;
let dev: { id: string; apiKey: string };
let prod: { id: string; apiKey: string };

beforeAll(async () => {
  app = await startTestWebapp({
    REALTIME_STREAM_SWEEP_INTERVAL_MS: "200",
    REALTIME_STREAM_IDLE_TIMEOUT_MS: "2000",
    REALTIME_STREAM_MAX_BYTES: "2000",
    REALTIME_STREAM_MAX_CHUNK_BYTES: "500",
    HTTP_REQUEST_TIMEOUT_MS: "1500",
  });
  dev = app.project.environments.find((e) => e.slug === "dev")!;
  prod = app.project.environments.find((e) => e.slug === "prod")!;
}, 120_000);

afterAll(() => app?.close());

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function trigger(key = dev.apiKey, tags: string[] = []) {
  const response = await fetch(`${app.url}/api/v1/tasks/stream-task/trigger`, {
    method: "POST",
    headers: { "content-type": "application/json", ...bearer(key) },
    body: JSON.stringify({ payload: "{}", options: { tags } }),
  });
  expect(response.status).toBe(200);
  const { id } = (await response.json()) as { id: string };
  const run = await app.webapp.services.prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: id } });
  return { id, internalId: run.id, publicToken: response.headers.get("x-trigger-jwt")! };
}

const lines = (values: unknown[]) => values.map((v) => `${JSON.stringify(v)}\n`).join("");

function write(runId: string, key: string, token: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${app.url}/realtime/v1/streams/${runId}/self/${key}`, {
    method: "POST",
    headers: { ...bearer(token), "content-type": "application/json", ...headers },
    body,
  });
}

function read(runId: string, key: string, token: string, headers: Record<string, string> = {}) {
  return fetch(`${app.url}/realtime/v1/streams/${runId}/${key}`, { headers: { ...bearer(token), ...headers } });
}

async function finish(internalId: string) {
  await app.webapp.services.prisma.taskRun.update({
    where: { id: internalId },
    data: { status: "COMPLETED_SUCCESSFULLY", completedAt: new Date() },
  });
}

const datas = (events: Array<{ data: string }>) => events.map((e) => JSON.parse(e.data) as unknown);

describe("who may write a stream", () => {
  it("the environment's secret key, or the run's own token (write:streams:<run>) — nothing else", async () => {
    const run = await trigger();
    const other = await trigger();
    const runToken = await signJwt(dev.id, dev.apiKey, { scopes: [`write:streams:${run.id}`] });
    const create = (token?: string, runId = run.id) =>
      fetch(`${app.url}/realtime/v1/streams/${runId}/self/out`, {
        method: "PUT",
        headers: token ? bearer(token) : {},
      });

    expect((await create()).status).toBe(401);
    const secret = await create(dev.apiKey);
    expect(secret.status).toBe(202);
    expect(await secret.json()).toEqual({ version: "v1" });
    expect((await create(runToken)).status).toBe(202);
    expect((await write(run.id, "out", runToken, lines(["by token"]))).status).toBe(200);

    // The trigger response's public token reads the run and sends input, but does not write its output.
    const denied = await create(run.publicToken);
    expect(denied.status).toBe(403);
    expect(await denied.json()).toMatchObject({ code: "unauthorized" });
    expect((await write(run.id, "out", run.publicToken, lines(["x"]))).status).toBe(403);
    // A run's token is for that run only.
    expect((await create(runToken, other.id)).status).toBe(403);
    // Another environment's key does not find the run at all.
    expect((await create(prod.apiKey)).status).toBe(404);
    expect((await write(run.id, "out", prod.apiKey, lines(["x"]))).status).toBe(404);

    await finish(run.internalId);
    const { events } = await readSse(await read(run.id, "out", dev.apiKey));
    expect(datas(events)).toEqual(["by token"]);
  });

  it("refuses writes once the run finished (400), keeping what was written", async () => {
    const run = await trigger();
    expect((await write(run.id, "late", dev.apiKey, lines([1]))).status).toBe(200);
    await finish(run.internalId);
    const refused = await write(run.id, "late", dev.apiKey, lines([2]));
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: "Cannot write to a realtime stream of a finished run" });
    const append = await fetch(`${app.url}/realtime/v1/streams/${run.id}/self/late/append`, {
      method: "POST",
      headers: bearer(dev.apiKey),
      body: "3",
    });
    expect(append.status).toBe(400);
    expect(datas((await readSse(await read(run.id, "late", dev.apiKey))).events)).toEqual([1]);
  });
});

describe("who may read a stream", () => {
  it("read scopes on the run, its tags, batch or task; anything else 403; another environment 404", async () => {
    const run = await trigger(dev.apiKey, ["team:blue"]);
    const { prisma } = app.webapp.services;
    const batch = await prisma.batchTaskRun.create({
      data: { friendlyId: `batch_${run.internalId}`, runtimeEnvironmentId: dev.id, runCount: 1 },
    });
    await prisma.taskRun.update({ where: { id: run.internalId }, data: { batchId: batch.id } });
    expect((await write(run.id, "s", dev.apiKey, lines(["hello"]))).status).toBe(200);
    await finish(run.internalId);

    const token = (scopes: string[], env = dev) => signJwt(env.id, env.apiKey, { scopes });
    for (const scopes of [
      [`read:runs:${run.id}`],
      ["read:tags:team:blue"],
      [`read:batch:${batch.friendlyId}`],
      ["read:tasks:stream-task"],
      ["read:runs"],
    ]) {
      const response = await read(run.id, "s", await token(scopes));
      expect(response.status, scopes.join(" ")).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/event-stream");
      expect(datas((await readSse(response)).events)).toEqual(["hello"]);
    }
    expect(run.publicToken).toBeTruthy();
    expect((await read(run.id, "s", run.publicToken)).status).toBe(200);

    for (const scopes of [["read:runs:run_someoneelse"], ["read:tags:team:red"], [`write:streams:${run.id}`], []]) {
      const response = await read(run.id, "s", await token(scopes));
      expect(response.status, scopes.join(" ")).toBe(403);
      expect(await response.json()).toEqual({
        error: "Unauthorized",
        code: "unauthorized",
        param: "access_token",
        type: "authorization",
      });
    }
    expect((await read(run.id, "s", await token([`read:runs:${run.id}`], prod))).status).toBe(404);
    expect((await read(run.id, "s", prod.apiKey)).status).toBe(404);
    expect((await fetch(`${app.url}/realtime/v1/streams/${run.id}/s`)).status).toBe(401);
  });

  it("answers browser preflights and sends CORS headers with the event stream", async () => {
    const run = await trigger();
    const preflight = await fetch(`${app.url}/realtime/v1/streams/${run.id}/s`, {
      method: "OPTIONS",
      headers: { origin: "http://localhost:5173", "access-control-request-headers": "authorization,last-event-id" },
    });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    await finish(run.internalId);
    const response = await read(run.id, "s", run.publicToken, { origin: "http://localhost:5173" });
    expect(response.headers.get("access-control-allow-origin")).toBe("http://localhost:5173");
    expect((await readSse(response)).ended).toBe(true);
  });

  it("counts open readers against the environment's realtime limit (429 past it)", async () => {
    const staging = app.project.environments.find((e) => e.slug === "staging")!;
    await app.webapp.services.prisma.runtimeEnvironment.update({
      where: { id: staging.id },
      data: { realtimeConcurrencyLimit: 1 },
    });
    const run = await trigger(staging.apiKey);
    const controller = new AbortController();
    const first = await fetch(`${app.url}/realtime/v1/streams/${run.id}/s`, {
      headers: bearer(staging.apiKey),
      signal: controller.signal,
    });
    expect(first.status).toBe(200);
    const second = await read(run.id, "s", staging.apiKey);
    expect(second.status).toBe(429);
    expect(await second.json()).toEqual({ error: "Too many concurrent requests" });
    controller.abort();
    await vi.waitFor(
      async () => {
        const third = await fetch(`${app.url}/realtime/v1/streams/${run.id}/s`, {
          headers: bearer(staging.apiKey),
          signal: AbortSignal.timeout(2_000),
        }).catch(() => undefined);
        expect(third?.status).toBe(200);
        await third?.body?.cancel();
      },
      { timeout: 10_000, interval: 100 },
    );
  });
});

describe("caps and bad bodies", () => {
  it("past the byte cap the writer gets 413 and the chunks before it stay", async () => {
    const run = await trigger();
    const big = "x".repeat(400);
    const response = await write(run.id, "cap", dev.apiKey, lines([big, big, big, big, big, big]));
    expect(response.status).toBe(413);
    expect(((await response.json()) as { error: string }).error).toMatch(/REALTIME_STREAM_MAX_BYTES/);
    await finish(run.internalId);
    const { events } = await readSse(await read(run.id, "cap", dev.apiKey));
    expect(datas(events)).toEqual([big, big, big, big]);
  });

  it("a chunk over the chunk size is 413; a line that is not JSON is 400 naming it; earlier lines stay", async () => {
    const run = await trigger();
    const tooBig = await write(run.id, "bad", dev.apiKey, lines(["a", "y".repeat(600)]));
    expect(tooBig.status).toBe(413);
    const notJson = await write(run.id, "bad", dev.apiKey, `${lines(["b"])}{oops\n${lines(["c"])}`);
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ error: expect.stringMatching(/line 2 is not JSON/) });
    const append = await fetch(`${app.url}/realtime/v1/streams/${run.id}/self/bad/append`, {
      method: "POST",
      headers: bearer(dev.apiKey),
      body: "z".repeat(600),
    });
    expect(append.status).toBe(413);
    for (const key of ["bad key with /", "$trigger.input:x"]) {
      const response = await write(run.id, encodeURIComponent(key), dev.apiKey, lines([1]));
      expect(response.status, key).toBe(400);
    }
    await finish(run.internalId);
    expect(datas((await readSse(await read(run.id, "bad", dev.apiKey))).events)).toEqual(["a", "b"]);
  });

  it("a retried body with the writer's client id stores each chunk once; HEAD says where to resume", async () => {
    const run = await trigger();
    const writer = (resume: number) => ({ "x-client-id": "w1", "x-resume-from-chunk": String(resume) });
    expect((await write(run.id, "retry", dev.apiKey, lines(["a", "b", "c"]), writer(0))).status).toBe(200);
    expect((await write(run.id, "retry", dev.apiKey, lines(["b", "c", "d"]), writer(1))).status).toBe(200);
    const head = await fetch(`${app.url}/realtime/v1/streams/${run.id}/self/retry`, {
      method: "HEAD",
      headers: { ...bearer(dev.apiKey), "x-client-id": "w1" },
    });
    expect(head.headers.get("x-last-chunk-index")).toBe("3");
    await finish(run.internalId);
    expect(datas((await readSse(await read(run.id, "retry", dev.apiKey))).events)).toEqual(["a", "b", "c", "d"]);
  });
});

describe("long writers", () => {
  it("a writer's pipe outlives the request timeout (Node's would cut it with 408/ECONNRESET); other slow bodies get 408", async () => {
    const run = await trigger();
    // 20 lines over ~3 s, twice HTTP_REQUEST_TIMEOUT_MS, in one chunked POST.
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${app.url}/realtime/v1/streams/${run.id}/self/long`, {
        method: "POST",
        headers: { ...bearer(dev.apiKey), "content-type": "application/x-ndjson" },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      let i = 0;
      const timer = setInterval(() => {
        req.write(`${JSON.stringify({ i })}\n`);
        if (++i === 20) {
          clearInterval(timer);
          req.end();
        }
      }, 150);
    });
    expect(status).toBe(200);
    await finish(run.internalId);
    expect(datas((await readSse(await read(run.id, "long", dev.apiKey))).events)).toEqual(
      [...Array(20).keys()].map((i) => ({ i })),
    );

    // A body that stops arriving, on another route: 408 once the timeout passed, connection closed.
    const started = Date.now();
    const slow = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${app.url}/api/v1/runs/${run.id}/metadata`, {
        method: "PUT",
        headers: { ...bearer(dev.apiKey), "content-type": "application/json", "content-length": "100" },
      });
      req.on("error", reject);
      req.on("response", (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.write('{"metadata":');
    });
    expect(slow).toBe(408);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
  });
});

describe("how a stream ends", () => {
  it("with no writer and no chunk for the idle timeout it ends; a later write reopens it", async () => {
    const run = await trigger();
    expect((await write(run.id, "idle", dev.apiKey, lines([1, 2]))).status).toBe(200);
    const started = Date.now();
    const first = await readSse(await read(run.id, "idle", dev.apiKey));
    expect(first.ended).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_000);
    expect(datas(first.events)).toEqual([1, 2]);

    expect((await write(run.id, "idle", dev.apiKey, lines([3]))).status).toBe(200);
    const resumed = await readSse(await read(run.id, "idle", dev.apiKey, { "last-event-id": first.events[1]!.id! }));
    expect(datas(resumed.events)).toEqual([3]);
  });

  it("a writer killed mid-line: the reader gets every complete line, no torn chunk, then the end", async () => {
    const run = await trigger();
    const received: Array<{ data: string }> = [];
    const reading = read(run.id, "killed", dev.apiKey).then((r) =>
      readSse(r, (events) => {
        received.splice(0, received.length, ...events);
        return false;
      }),
    );
    const child = spawn(
      process.execPath,
      [
        fileURLToPath(new URL("./fixtures/partial-writer.mjs", import.meta.url)),
        `${app.url}/realtime/v1/streams/${run.id}/self/killed`,
        dev.apiKey,
        "40",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    // The child has written 40 full lines and half of the 41st when it says so.
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("partial") && resolve());
      child.once("exit", (code) => reject(new Error(`writer exited early (${code})`)));
    });
    await vi.waitFor(() => expect(received.length).toBe(40), { timeout: 10_000, interval: 20 });
    child.kill("SIGKILL");
    const { events, ended } = await reading;
    expect(ended).toBe(true);
    expect(datas(events)).toEqual([...Array(40).keys()].map((i) => ({ line: i })));
  });
});

describe("input streams", () => {
  it("the trigger response's token sends into the run; the run's readers see it; read tokens cannot send", async () => {
    const run = await trigger();
    const send = (token: string, data: unknown) =>
      fetch(`${app.url}/realtime/v1/streams/${run.id}/input/approval`, {
        method: "POST",
        headers: { ...bearer(token), "content-type": "application/json" },
        body: JSON.stringify({ data }),
      });
    const sent = await send(run.publicToken, { approved: true });
    expect(sent.status).toBe(200);
    expect(await sent.json()).toEqual({ ok: true });
    const readOnly = await signJwt(dev.id, dev.apiKey, { scopes: [`read:runs:${run.id}`] });
    expect((await send(readOnly, { approved: false })).status).toBe(403);
    const bad = await fetch(`${app.url}/realtime/v1/streams/${run.id}/input/approval`, {
      method: "POST",
      headers: { ...bearer(dev.apiKey), "content-type": "application/json" },
      body: "[1,2]",
    });
    expect(bad.status).toBe(400);
    // Input streams are not the run's output streams.
    const row = await app.webapp.services.prisma.taskRun.findUniqueOrThrow({ where: { id: run.internalId } });
    expect(row.realtimeStreams).toEqual([]);

    await finish(run.internalId);
    expect((await send(dev.apiKey, 1)).status).toBe(400);
    const tail = await readSse(
      await fetch(`${app.url}/realtime/v1/streams/${run.id}/input/approval`, { headers: bearer(readOnly) }),
    );
    expect(datas(tail.events)).toEqual([{ approved: true }]);
  });
});

describe("reader options", () => {
  it("rejects a malformed Last-Event-ID or Timeout-Seconds with 400; Timeout-Seconds closes an idle reader", async () => {
    const run = await trigger();
    expect((await read(run.id, "opt", dev.apiKey, { "last-event-id": "yesterday" })).status).toBe(400);
    expect((await read(run.id, "opt", dev.apiKey, { "timeout-seconds": "0" })).status).toBe(400);
    expect((await read(run.id, "opt", dev.apiKey, { "timeout-seconds": "601" })).status).toBe(400);
    expect((await write(run.id, "opt", dev.apiKey, lines([1]))).status).toBe(200);
    const response = await read(run.id, "opt", dev.apiKey, {
      "timeout-seconds": "1",
      "x-trigger-stream-start": "latest",
    });
    const { events, ended } = await readSse(response);
    expect(ended).toBe(true);
    expect(events).toEqual([]);
  });

  it("Last-Event-ID as a bare index skips that many chunks (the SDK's startIndex)", async () => {
    const run = await trigger();
    expect((await write(run.id, "idx", dev.apiKey, lines([0, 1, 2, 3, 4]))).status).toBe(200);
    await finish(run.internalId);
    const { events } = await readSse(await read(run.id, "idx", dev.apiKey, { "last-event-id": "1" }));
    expect(datas(events)).toEqual([2, 3, 4]);
  });
});
