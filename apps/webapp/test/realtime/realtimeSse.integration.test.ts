/**
 * Live mode over server-sent events through the realtime routes, and shared live long-polls
 * (docs/decisions/072-realtime-sse-and-cheap-repoll.md): webapp → apps/shape-sync (in process, on this
 * file's database) → Postgres logical replication, with public tokens.
 */
import { generateRunFriendlyId } from "@runfeed/core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { signPublicToken } from "../../app/services/auth.server.js";
import { rollRootKey } from "../../app/services/apiKeys.server.js";
import { realtimeUsage } from "../../app/services/realtime/realtimeServices.server.js";
import { REALTIME_BACKENDS, type RealtimeStack, runChanged, startRealtimeStack } from "../support/realtimeBackends.js";
import type { TestWebapp } from "../support/webapp.js";

let app: TestWebapp;
let stack: RealtimeStack | undefined;
const prisma = () => app.webapp.services.prisma;
const env = (i: number) => app.project.environments[i]!;
const SDK_HEADERS = { "x-trigger-electric-version": "1.0.0-beta.1", "x-trigger-api-version": "2025-07-16" };

type Message = { key?: string; value?: Record<string, string | null>; headers: Record<string, unknown> };

async function createRun(i: number) {
  return prisma().taskRun.create({
    data: {
      friendlyId: generateRunFriendlyId(),
      taskIdentifier: "sse-task",
      payload: "{}",
      runtimeEnvironmentId: env(i).id,
      projectId: app.project.projectId,
    },
  });
}
async function tokenFor(i: number, scopes: string[], expirationTime: string | number = "1h") {
  const environment = await prisma().runtimeEnvironment.findUniqueOrThrow({
    where: { id: env(i).id },
    include: { project: true, parentEnvironment: true },
  });
  return signPublicToken(environment, { scopes }, expirationTime);
}
const get = (path: string, token: string, signal?: AbortSignal) =>
  fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...SDK_HEADERS }, signal });
const usage = async (i: number) => (await realtimeUsage(app.webapp.services, [env(i).id]))[env(i).id];

/** Reads SSE `data:` events off a response body, one at a time. */
function events(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = "";
  const queue: Message[] = [];
  return {
    /** The next event, or undefined when the stream has ended. */
    async next(): Promise<Message | undefined> {
      for (;;) {
        if (queue.length > 0) return queue.shift();
        const { value, done } = await reader.read();
        if (done) return undefined;
        buffered += decoder.decode(value, { stream: true });
        let end = buffered.indexOf("\n\n");
        while (end !== -1) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = block
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trimStart())
            .join("\n");
          if (data) queue.push(JSON.parse(data) as Message);
          end = buffered.indexOf("\n\n");
        }
      }
    },
    cancel: () => reader.cancel().catch(() => {}),
  };
}

/** Reads events until `count` row changes arrived and the stream said up-to-date; returns them and the resume offset. */
async function changes(stream: ReturnType<typeof events>, count: number) {
  const got: Message[] = [];
  let resume: string | undefined;
  while (got.length < count || resume === undefined) {
    const message = await stream.next();
    if (!message) throw new Error(`stream ended after ${got.length} of ${count} changes: ${JSON.stringify(got)}`);
    if (message.key) {
      got.push(message);
      resume = undefined;
    } else if (message.headers.control === "up-to-date" && got.length >= count) {
      resume = `${message.headers.global_last_seen_lsn}_0`;
    }
  }
  return { got, resume };
}

/**
 * As Electric's SSE client, until the row with `number` = `last` arrived: rows are taken on up-to-date, and a stream that ends (the shape server
 * ends one at once when it already had messages for the offset) is reopened from the last up-to-date.
 */
async function follow(open: (offset: string) => Promise<ReturnType<typeof events>>, from: string, last: number) {
  const got: Message[] = [];
  let pending: Message[] = [];
  let offset = from;
  let stream = await open(offset);
  while (Number(got.at(-1)?.value?.number) !== last) {
    const message = await stream.next();
    if (!message) {
      pending = [];
      stream = await open(offset);
    } else if (message.key) {
      pending.push(message);
    } else if (message.headers.control === "up-to-date") {
      got.push(...pending);
      pending = [];
      offset = `${message.headers.global_last_seen_lsn}_0`;
    }
  }
  return { got, offset, stream };
}

describe.each(REALTIME_BACKENDS)("%s backend", (backend) => {
  /** A write as the worker makes it: the row, then its signal. */
  const updateRun = async (args: { where: { id: string }; data: Record<string, unknown> }) => {
    const run = await prisma().taskRun.update(args);
    runChanged(app.webapp.services, run);
    return run;
  };
  /**
   * The shape server delivers every change; the native backend delivers state, so changes made
   * between two of its reads arrive as one: every value it sends is one of them, in order, and the
   * last one always arrives.
   */
  const expectDelivered = (got: Message[], written: number[]) => {
    const numbers = got.map((m) => Number(m.value!.number));
    if (backend === "electric") return expect(numbers).toEqual(written);
    expect(numbers.at(-1)).toBe(written.at(-1));
    expect(numbers.every((n, i) => written.includes(n) && (i === 0 || n > numbers[i - 1]!))).toBe(true);
  };

  beforeAll(async () => {
    stack = await startRealtimeStack(backend, {
      REALTIME_LIMITER_ENTRY_TTL_MS: "1500",
      REALTIME_STREAM_RECHECK_MS: "200",
    });
    app = stack.app;
  }, 120_000);

  afterAll(async () => {
    await stack?.close();
  });

  describe("SSE through the realtime routes", () => {
    it("initial rows, live updates in order, resume after a dropped connection with no gap or duplicate, slot freed on disconnect", async () => {
      const run = await createRun(0);
      const token = await tokenFor(0, [`read:runs:${run.friendlyId}`]);
      const path = `/realtime/v1/runs/${run.friendlyId}`;
      const initial = await get(`${path}?log=full&offset=-1`, token);
      expect(initial.status).toBe(200);
      const initialRows = ((await initial.json()) as Message[]).filter((m) => m.key);
      expect(initialRows.map((m) => m.value!.id)).toEqual([run.id]);
      const handle = initial.headers.get("electric-handle")!;
      let offset = initial.headers.get("electric-offset")!;

      const connections: AbortController[] = [];
      const open = async (from: string) => {
        const controller = new AbortController();
        connections.push(controller);
        const response = await get(
          `${path}?handle=${encodeURIComponent(handle)}&live=true&live_sse=true&log=full&offset=${encodeURIComponent(from)}`,
          token,
          controller.signal,
        );
        expect(response.status).toBe(200);
        expect(response.headers.get("content-type")).toContain("text/event-stream");
        expect(response.headers.get("access-control-expose-headers")).toContain("electric-handle");
        return events(response);
      };
      const dropAll = async () => {
        for (const c of connections.splice(0)) c.abort();
        await vi.waitFor(async () => expect(await usage(0)).toBe(0), { timeout: 5_000, interval: 50 });
      };

      // Live updates, in order, on one stream holding one slot.
      const stream = await open(offset);
      expect(await usage(0)).toBe(1);
      for (let n = 1; n <= 3; n++) await updateRun({ where: { id: run.id }, data: { number: n } });
      const live = await follow(async () => stream, offset, 3);
      expectDelivered(live.got, [1, 2, 3]);
      expect(connections).toHaveLength(1);
      offset = live.offset;

      // The connection drops (slot freed at once); changes made meanwhile arrive after resuming, once each.
      await dropAll();
      for (let n = 4; n <= 5; n++) await updateRun({ where: { id: run.id }, data: { number: n } });
      const resumed = follow(open, offset, 6);
      await vi.waitFor(() => expect(connections.length).toBeGreaterThan(0));
      await updateRun({ where: { id: run.id }, data: { number: 6 } });
      expectDelivered((await resumed).got, [4, 5, 6]);
      await dropAll();
    });

    it("accepts the older experimental_live_sse name", async () => {
      const run = await createRun(0);
      const token = await tokenFor(0, [`read:runs:${run.friendlyId}`]);
      const initial = await get(`/realtime/v1/runs/${run.friendlyId}?log=full&offset=-1`, token);
      const query = `handle=${initial.headers.get("electric-handle")}&live=true&experimental_live_sse=true&log=full&offset=${initial.headers.get("electric-offset")}`;
      await initial.arrayBuffer();
      const controller = new AbortController();
      const response = await get(`/realtime/v1/runs/${run.friendlyId}?${query}`, token, controller.signal);
      expect(response.headers.get("content-type")).toContain("text/event-stream");
      controller.abort();
      await response.body?.cancel().catch(() => {});
    });

    it("ends the stream at the token's expiry and frees its slot; the client resumes with a fresh token", async () => {
      const run = await createRun(1);
      const exp = Math.floor(Date.now() / 1000) + 3;
      const token = await tokenFor(1, [`read:runs:${run.friendlyId}`], exp);
      const initial = await get(`/realtime/v1/runs/${run.friendlyId}?log=full&offset=-1`, token);
      const query = `handle=${initial.headers.get("electric-handle")}&live=true&live_sse=true&log=full&offset=${initial.headers.get("electric-offset")}`;
      await initial.arrayBuffer();
      const response = await get(`/realtime/v1/runs/${run.friendlyId}?${query}`, token);
      const stream = events(response);
      await updateRun({ where: { id: run.id }, data: { number: 1 } });
      const { resume } = await changes(stream, 1);
      // The stream ends by itself (the shape server's own SSE timeout is far longer), at exp, not before.
      while ((await stream.next()) !== undefined) {}
      expect(Date.now()).toBeGreaterThanOrEqual(exp * 1000);
      await vi.waitFor(async () => expect(await usage(1)).toBe(0), { timeout: 5_000, interval: 50 });
      expect((await get(`/realtime/v1/runs/${run.friendlyId}?${query}`, token)).status).toBe(401);

      const fresh = await tokenFor(1, [`read:runs:${run.friendlyId}`]);
      const resumedQuery = `handle=${initial.headers.get("electric-handle")}&live=true&live_sse=true&log=full&offset=${resume}`;
      const controller = new AbortController();
      const resumed = events(
        await get(`/realtime/v1/runs/${run.friendlyId}?${resumedQuery}`, fresh, controller.signal),
      );
      await updateRun({ where: { id: run.id }, data: { number: 2 } });
      expect((await changes(resumed, 1)).got.map((m) => Number(m.value!.number))).toEqual([2]);
      controller.abort();
      await resumed.cancel();
    });
  });

  if (backend === "electric")
    describe("shared event streams", () => {
      it("one upstream stream for identical subscriptions opened together; each client its own slot and end; a later one gets its own", async () => {
        const run = await createRun(2);
        const token = await tokenFor(2, [`read:runs:${run.friendlyId}`]);
        const path = `/realtime/v1/runs/${run.friendlyId}`;
        const initial = await get(`${path}?log=full&offset=-1`, token);
        const query = `handle=${initial.headers.get("electric-handle")}&live=true&live_sse=true&log=full&offset=${initial.headers.get("electric-offset")}`;
        await initial.arrayBuffer();
        const { upstream } = app.webapp.services.realtime;
        const opened = await Promise.all(Array.from({ length: 3 }, () => get(`${path}?${query}`, token)));
        for (const r of opened) expect(r.headers.get("content-type")).toContain("text/event-stream");
        expect(upstream.eventStreamClients).toBe(3);
        expect(upstream.eventStreams).toBe(1);
        expect(await usage(2)).toBe(3);
        const [leaving, ...staying] = opened.map(events);
        await leaving!.cancel();
        await vi.waitFor(async () => expect(await usage(2)).toBe(2), { timeout: 5_000, interval: 50 });
        expect(upstream.eventStreamClients).toBe(2);
        expect(upstream.eventStreams).toBe(1);

        await updateRun({ where: { id: run.id }, data: { number: 11 } });
        for (const stream of staying) {
          const { got } = await changes(stream, 1);
          expect(got[0]!.value?.number).toBe("11");
        }
        // The shared stream has spoken: the same request now opens a stream of its own.
        // (It would have missed the change; its own stream starts at its offset and has it.)
        const late = await get(`${path}?${query}`, token);
        expect(late.status).toBe(200);
        const lateEvents = events(late);
        expect((await changes(lateEvents, 1)).got[0]!.value?.number).toBe("11");
        for (const stream of [...staying, lateEvents]) await stream.cancel();
        await vi.waitFor(() => expect(upstream.eventStreams + upstream.eventStreamClients).toBe(0), {
          timeout: 5_000,
          interval: 20,
        });
        await vi.waitFor(async () => expect(await usage(2)).toBe(0), { timeout: 5_000, interval: 50 });
      });
    });

  // Sharing upstream long-polls is the proxy's own (the native backend shares resolutions instead).
  if (backend === "electric")
    describe("shared live long-polls", () => {
      it("one upstream poll for identical live requests; every client gets the change; a client leaving frees only its own slot", async () => {
        const run = await createRun(2);
        const token = await tokenFor(2, [`read:runs:${run.friendlyId}`]);
        const path = `/realtime/v1/runs/${run.friendlyId}`;
        const initial = await get(`${path}?log=full&offset=-1`, token);
        const query = `cursor=&handle=${initial.headers.get("electric-handle")}&live=true&log=full&offset=${initial.headers.get("electric-offset")}`;
        await initial.arrayBuffer();
        const { upstream } = app.webapp.services.realtime;
        const leaving = new AbortController();
        const gone = get(`${path}?${query}`, token, leaving.signal).catch((error: Error) => error);
        const polls = Array.from({ length: 5 }, () => get(`${path}?${query}`, token));
        await vi.waitFor(() => expect(upstream.waiting).toBe(6), { timeout: 5_000, interval: 20 });
        expect(upstream.sharedPolls).toBe(1);
        // Admitted optimistically (well below the limit): registered in Redis within a batch (050).
        await vi.waitFor(async () => expect(await usage(2)).toBe(6), { timeout: 5_000, interval: 20 });
        leaving.abort();
        expect(await gone).toBeInstanceOf(Error);
        await vi.waitFor(async () => expect(await usage(2)).toBe(5), { timeout: 5_000, interval: 50 });
        expect(upstream.sharedPolls).toBe(1);

        await updateRun({ where: { id: run.id }, data: { number: 7 } });
        const answers = await Promise.all(polls);
        const bodies = await Promise.all(answers.map(async (r) => ({ status: r.status, body: await r.text() })));
        for (const { status, body } of bodies) {
          expect(status).toBe(200);
          expect(body).toBe(bodies[0]!.body);
          expect((JSON.parse(body) as Message[]).find((m) => m.key)?.value?.number).toBe("7");
        }
        expect(new Set(answers.map((r) => r.headers.get("electric-offset"))).size).toBe(1);
        await vi.waitFor(async () => expect(await usage(2)).toBe(0), { timeout: 5_000, interval: 50 });
        expect(upstream.sharedPolls).toBe(0);
      });

      it("the last client leaving cancels the upstream poll", async () => {
        const run = await createRun(2);
        const token = await tokenFor(2, [`read:runs:${run.friendlyId}`]);
        const path = `/realtime/v1/runs/${run.friendlyId}`;
        const initial = await get(`${path}?log=full&offset=-1`, token);
        const query = `cursor=&handle=${initial.headers.get("electric-handle")}&live=true&log=full&offset=${initial.headers.get("electric-offset")}`;
        await initial.arrayBuffer();
        const { upstream } = app.webapp.services.realtime;
        const controller = new AbortController();
        const polls = Array.from({ length: 3 }, () =>
          get(`${path}?${query}`, token, controller.signal).catch((error: Error) => error),
        );
        await vi.waitFor(() => expect(upstream.sharedPolls).toBe(1), { timeout: 5_000, interval: 20 });
        controller.abort();
        await Promise.all(polls);
        await vi.waitFor(() => expect(upstream.sharedPolls + upstream.waiting).toBe(0), {
          timeout: 5_000,
          interval: 20,
        });
        await vi.waitFor(async () => expect(await usage(2)).toBe(0), { timeout: 5_000, interval: 50 });
      });
    });

  describe("open streams and a rolled key", () => {
    // Last in the file: it rolls environment 0's key (tokens minted afterwards are signed with the new one).
    it("ends the open streams of a token whose key was rolled, promptly, and frees their slots; a fresh token resumes", async () => {
      const run = await createRun(0);
      const token = await tokenFor(0, [`read:runs:${run.friendlyId}`]);
      const initial = await get(`/realtime/v1/runs/${run.friendlyId}?log=full&offset=-1`, token);
      const query = `handle=${initial.headers.get("electric-handle")}&live=true&live_sse=true&log=full&offset=${initial.headers.get("electric-offset")}`;
      await initial.arrayBuffer();
      const watched = app.webapp.services.realtime.streamChecks.streams;
      const streams = await Promise.all(
        [0, 1].map(async () => events(await get(`/realtime/v1/runs/${run.friendlyId}?${query}`, token))),
      );
      await updateRun({ where: { id: run.id }, data: { number: 1 } });
      const resumes = await Promise.all(streams.map((stream) => changes(stream, 1)));
      expect(app.webapp.services.realtime.streamChecks.streams).toBe(watched + 2);

      const { services } = app.webapp;
      const rolledAt = Date.now();
      await rollRootKey(services, env(0), { userId: undefined, clientAddress: "127.0.0.1" });
      // Both streams end cleanly (either backend's own stream end is a minute away), within a few checks.
      for (const stream of streams) while ((await stream.next()) !== undefined) {}
      expect(Date.now() - rolledAt).toBeLessThan(5_000);
      expect(services.realtime.streamChecks.streams).toBe(watched);
      await vi.waitFor(async () => expect(await usage(0)).toBe(0), { timeout: 5_000, interval: 50 });
      // The reconnect with the old token is refused; one signed with the new key resumes with no gap.
      expect((await get(`/realtime/v1/runs/${run.friendlyId}?${query}`, token)).status).toBe(401);
      const fresh = await tokenFor(0, [`read:runs:${run.friendlyId}`]);
      const resumedQuery = `handle=${initial.headers.get("electric-handle")}&live=true&live_sse=true&log=full&offset=${resumes[0]!.resume}`;
      const resumed = events(await get(`/realtime/v1/runs/${run.friendlyId}?${resumedQuery}`, fresh));
      await updateRun({ where: { id: run.id }, data: { number: 2 } });
      expect((await changes(resumed, 1)).got.map((m) => Number(m.value!.number))).toEqual([2]);
      await resumed.cancel();
    });
  });
});
