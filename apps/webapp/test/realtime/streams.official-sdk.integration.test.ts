/**
 * Realtime streams with the unmodified @trigger.dev/sdk 4.8.3: its v1 writer (StreamsWriterV1, the one
 * a task's `streams.pipe` uses against a server that answers `{"version":"v1"}`), `streams.append`,
 * `streams.read` (including a reader whose connection is cut and resumes with Last-Event-ID) and
 * `runs.subscribeToRun(id).withStreams()`; and a stream read after its run completed, from the archive.
 */
import { ApiClient, realtimeStreams } from "@trigger.dev/core/v3";
import { StandardRealtimeStreamsManager } from "@trigger.dev/core/v3/workers";
import { configure, runs, streams } from "@trigger.dev/sdk";
import { startCuttableProxy } from "@runfeed/devstack/fixtures";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { completeRun, readSse, startStreamsStack, triggerRun, type StreamsStack } from "./streamsSupport.js";

let stack: StreamsStack;

beforeAll(async () => {
  stack = await startStreamsStack();
  configure({ baseURL: stack.baseURL, accessToken: stack.secretKey });
  // What the task runtime installs: the SDK's stream manager, writing through its API client.
  const client = new ApiClient(stack.baseURL, stack.secretKey);
  realtimeStreams.setGlobalManager(new StandardRealtimeStreamsManager(client, stack.baseURL));
}, 120_000);

afterAll(() => stack?.close());

async function* numbered(count: number, delayMs = 0) {
  for (let i = 0; i < count; i++) {
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    yield { i, text: `chunk ${i}` };
  }
}

async function collect<T>(iterable: AsyncIterable<T>, into: T[]): Promise<void> {
  for await (const value of iterable) into.push(value);
}

describe("@trigger.dev/sdk 4.8.3 realtime streams against runfeed", () => {
  it("pipes with the v1 writer; streams.read sees every chunk in order, then the end once the run completes", async () => {
    const run = await triggerRun(stack);
    const received: Array<{ i: number }> = [];
    const reading = streams.read<{ i: number }>(run.id, "tokens").then((stream) => collect(stream, received));

    const { waitUntilComplete } = streams.pipe("tokens", numbered(300), { target: run.id });
    await waitUntilComplete();
    await vi.waitFor(() => expect(received.length).toBe(300), { timeout: 20_000, interval: 50 });

    // The run row lists the stream (so a row subscriber knows it exists).
    const row = await stack.app.webapp.services.prisma.taskRun.findUniqueOrThrow({ where: { id: run.internalId } });
    expect(row.realtimeStreams).toEqual(["tokens"]);

    await completeRun(stack, run.internalId);
    await reading; // ends by itself: the run finished, so the stream did
    expect(received.map((c) => c.i)).toEqual([...Array(300).keys()]);
  });

  it("streams.append adds single parts, read back as the strings sent", async () => {
    const run = await triggerRun(stack);
    await streams.append("status", "queued", { target: run.id });
    await streams.append("status", "working", { target: run.id });
    await completeRun(stack, run.internalId);
    const parts: string[] = [];
    await collect(await streams.read<string>(run.id, "status"), parts);
    expect(parts).toEqual(["queued", "working"]);
  });

  it("a reader whose connection is cut resumes with Last-Event-ID: no gap, no duplicate", async () => {
    const run = await triggerRun(stack);
    const proxy = await startCuttableProxy(stack.baseURL);
    try {
      const received: Array<{ i: number }> = [];
      // The reader (the SDK's SSE subscription, as streams.read uses it) goes through the proxy; the
      // writer talks to the webapp directly.
      const client = new ApiClient(proxy.url, stack.secretKey);
      const stream = await client.fetchStream<{ i: number }>(run.id, "cut", {});
      const reading = collect(stream, received);
      const writing = streams.pipe("cut", numbered(400, 2), { target: run.id }).waitUntilComplete();

      for (const atLeast of [60, 160, 260]) {
        await vi.waitFor(() => expect(received.length).toBeGreaterThanOrEqual(atLeast), {
          timeout: 20_000,
          interval: 10,
        });
        expect(proxy.cut()).toBeGreaterThan(0);
      }
      await writing;
      await completeRun(stack, run.internalId);
      await reading;
      expect(received.map((c) => c.i)).toEqual([...Array(400).keys()]);
    } finally {
      await proxy.close();
    }
  });

  it("subscribeToRun(id).withStreams() yields the run and its stream's chunks", async () => {
    const run = await triggerRun(stack);
    const chunks: unknown[] = [];
    let finished = false;
    const subscription = runs.subscribeToRun(run.id).withStreams<{ llm: { i: number } }>();
    const reading = (async () => {
      for await (const part of subscription) {
        if (part.type === "run") finished ||= part.run.finishedAt !== undefined;
        else if (part.type === "llm") chunks.push(part.chunk);
        if (finished && chunks.length === 50) break;
      }
    })();
    await streams.pipe("llm", numbered(50), { target: run.id }).waitUntilComplete();
    await completeRun(stack, run.internalId);
    await reading;
    expect(chunks).toEqual([...Array(50).keys()].map((i) => ({ i, text: `chunk ${i}` })));
  });

  it("a stream read after its run completed comes from the Postgres archive", async () => {
    const run = await triggerRun(stack);
    await streams.pipe("archived", numbered(2_500), { target: run.id }).waitUntilComplete();
    await completeRun(stack, run.internalId);
    const { prisma, streams: live } = stack.app.webapp.services;
    await vi.waitFor(
      async () => {
        const row = await prisma.realtimeStream.findUniqueOrThrow({
          where: { runId_key: { runId: run.internalId, key: "archived" } },
        });
        expect(row.endedAt).not.toBeNull();
        expect(row.chunkCount).toBe(2_500);
      },
      { timeout: 20_000, interval: 100 },
    );
    expect(await prisma.realtimeStreamSegment.count({ where: { runId: run.internalId, key: "archived" } })).toBe(3);

    // Read while Redis still has it (archive and live overlap: nothing doubled) …
    const both: Array<{ i: number }> = [];
    await collect(await streams.read<{ i: number }>(run.id, "archived"), both);
    expect(both.map((c) => c.i)).toEqual([...Array(2_500).keys()]);

    // … and once Redis has forgotten it (what the grace period's expiry does).
    const ref = { runId: run.internalId, key: "archived" };
    await live.store.redis.del(live.store.streamKey(ref), live.store.metaKey(ref));
    const fromArchive: Array<{ i: number }> = [];
    await collect(await streams.read<{ i: number }>(run.id, "archived"), fromArchive);
    expect(fromArchive.map((c) => c.i)).toEqual([...Array(2_500).keys()]);

    // Resuming in the middle of the archive with a raw Last-Event-ID.
    const all = await readSse(
      await fetch(`${stack.baseURL}/realtime/v1/streams/${run.id}/archived`, {
        headers: { authorization: `Bearer ${stack.secretKey}` },
      }),
    );
    const middle = all.events[1_234]!.id!;
    const rest = await readSse(
      await fetch(`${stack.baseURL}/realtime/v1/streams/${run.id}/archived`, {
        headers: { authorization: `Bearer ${stack.secretKey}`, "last-event-id": middle },
      }),
    );
    expect(rest.ended).toBe(true);
    expect(rest.events.map((e) => (JSON.parse(e.data) as { i: number }).i)).toEqual(
      [...Array(2_500).keys()].slice(1_235),
    );
  });
});
