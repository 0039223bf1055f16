/**
 * @runfeed/sdk realtime streams against a real webapp (devstack's stackTest, child processes): the writer (pipe, append, input streams inside
 * a task run context with the run's own token), the readers (streams.read, withStreams), a writer and
 * a reader whose connections are cut mid-stream (each chunk exactly once, in order).
 */
import { JWT_AUDIENCE, JWT_ISSUER } from "@runfeed/core";
import { SignJWT } from "jose";
import { describe, expect, vi } from "vitest";
import { runs, setTaskRunContextProvider, streams, tasks, type TaskRunContext } from "../src/index.js";
import { stackTest, setupStack, type DevStack } from "@runfeed/devstack/fixtures";

// Streams swept often, and a writer's silence ends its stream after 3 s.
setupStack({ REALTIME_STREAM_SWEEP_INTERVAL_MS: "200", REALTIME_STREAM_IDLE_TIMEOUT_MS: "3000" });

const server = (stack: DevStack) => ({ baseURL: stack.baseURL, accessToken: stack.secretKey });

async function queuedRun(stack: DevStack) {
  const { id } = await tasks.trigger("stream-task", {}, {}, server(stack));
  const run = await stack.prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: id } });
  return { id, internalId: run.id };
}

async function finish(stack: DevStack, internalId: string) {
  await stack.prisma.taskRun.update({
    where: { id: internalId },
    data: { status: "COMPLETED_SUCCESSFULLY", completedAt: new Date() },
  });
}

async function* numbered(count: number, delayMs = 0) {
  for (let i = 0; i < count; i++) {
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    yield { i };
  }
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const value of iterable) out.push(value);
  return out;
}

/** A public token of the dev environment with these scopes. */
function token(stack: DevStack, scopes: string[]): Promise<string> {
  const environment = stack.devEnvironment;
  return new SignJWT({ pub: true, scopes })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(environment.id)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(environment.apiKey));
}

/** The run's own token, as the worker mints it. */
const runToken = (stack: DevStack, runId: string) => token(stack, [`write:streams:${runId}`, `read:runs:${runId}`]);

describe("@runfeed/sdk streams", () => {
  stackTest(
    "pipe from a task run context (the run's token); read every chunk in order, then the end",
    async ({ stack }) => {
      const run = await queuedRun(stack);
      const context: TaskRunContext = {
        runId: run.id,
        baseURL: stack.baseURL,
        accessToken: await runToken(stack, run.id),
      };
      const previous = setTaskRunContextProvider(() => context);
      try {
        const reading = collect(streams.read<{ i: number }>(run.id, "llm", server(stack)));
        expect(await streams.pipe("llm", numbered(500))).toEqual({ chunks: 500 });
        await streams.append("status", { step: "done" });
        await finish(stack, run.internalId);
        expect((await reading).map((c) => c.i)).toEqual([...Array(500).keys()]);
        expect(await collect(streams.read(run.id, "status", server(stack)))).toEqual([{ step: "done" }]);
      } finally {
        setTaskRunContextProvider(previous);
      }
    },
  );

  stackTest(
    "outside a task, pipe needs a target; a public token may not write (PermissionDeniedError)",
    async ({ stack }) => {
      await expect(streams.pipe("x", numbered(1), server(stack))).rejects.toThrow(/No run to write the stream to/);
      const run = await queuedRun(stack);
      const reader = await token(stack, [`read:runs:${run.id}`]);
      await expect(
        streams.pipe("x", numbered(1), { target: run.id, baseURL: stack.baseURL, accessToken: reader }),
      ).rejects.toMatchObject({ name: "PermissionDeniedError", status: 403 });
    },
  );

  stackTest(
    "a writer whose connection is cut resumes where the server's copy ends: each chunk once, in order",
    async ({ stack, cuttableProxy }) => {
      const run = await queuedRun(stack);
      const proxy = await cuttableProxy(stack.baseURL);
      try {
        const writing = streams.pipe("w", numbered(600, 1), {
          target: run.id,
          baseURL: proxy.url,
          accessToken: stack.secretKey,
        });
        const readerSeen: number[] = [];
        const reading = (async () => {
          for await (const c of streams.read<{ i: number }>(run.id, "w", server(stack))) readerSeen.push(c.i);
        })();
        for (const atLeast of [100, 300]) {
          await vi.waitFor(() => expect(readerSeen.length).toBeGreaterThanOrEqual(atLeast), {
            timeout: 20_000,
            interval: 5,
          });
          expect(proxy.cut()).toBeGreaterThan(0);
        }
        expect(await writing).toEqual({ chunks: 600 });
        await finish(stack, run.internalId);
        await reading;
        expect(readerSeen).toEqual([...Array(600).keys()]);
      } finally {
        await proxy.close();
      }
    },
  );

  stackTest(
    "a reader whose connection is cut resumes after its last chunk: no gap, no duplicate",
    async ({ stack, cuttableProxy }) => {
      const run = await queuedRun(stack);
      const proxy = await cuttableProxy(stack.baseURL);
      try {
        const seen: number[] = [];
        const reading = (async () => {
          const subscription = streams.read<{ i: number }>(run.id, "r", {
            baseURL: proxy.url,
            accessToken: stack.secretKey,
          });
          for await (const c of subscription) seen.push(c.i);
        })();
        const writing = streams.pipe("r", numbered(400, 2), { target: run.id, ...server(stack) });
        for (const atLeast of [50, 150, 250]) {
          await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(atLeast), { timeout: 20_000, interval: 5 });
          expect(proxy.cut()).toBeGreaterThan(0);
        }
        await writing;
        await finish(stack, run.internalId);
        await reading;
        expect(seen).toEqual([...Array(400).keys()]);
      } finally {
        await proxy.close();
      }
    },
  );

  stackTest(
    "runs.subscribeToRun(id).withStreams() yields the run and its streams' chunks, and ends with them",
    async ({ stack }) => {
      const run = await queuedRun(stack);
      const parts: Array<{ type: string; chunk?: unknown; status?: string }> = [];
      const reading = (async () => {
        for await (const part of runs
          .subscribeToRun(run.id, server(stack))
          .withStreams<{ a: { i: number }; b: string }>()) {
          if (part.type === "run") parts.push({ type: "run", status: part.run.status });
          else parts.push({ type: part.type, chunk: part.chunk });
        }
      })();
      await streams.pipe("a", numbered(20), { target: run.id, ...server(stack) });
      await streams.append("b", "hello", { target: run.id, ...server(stack) });
      await finish(stack, run.internalId);
      await reading; // ends by itself: the run finished and so did its streams
      expect(parts.filter((p) => p.type === "a").map((p) => p.chunk)).toEqual(
        [...Array(20).keys()].map((i) => ({ i })),
      );
      expect(parts.filter((p) => p.type === "b").map((p) => p.chunk)).toEqual(["hello"]);
      expect(parts.filter((p) => p.type === "run").at(-1)?.status).toBe("COMPLETED");
    },
  );

  stackTest("input streams: a backend sends, the task takes each value once", async ({ stack }) => {
    const run = await queuedRun(stack);
    const approval = streams.input<{ approved: boolean; by: string }>("approval");
    await approval.send(run.id, { approved: false, by: "bob" }, server(stack));
    const previous = setTaskRunContextProvider(() => ({
      runId: run.id,
      baseURL: stack.baseURL,
      accessToken: stack.secretKey,
    }));
    try {
      expect(await approval.once({ timeoutMs: 10_000 })).toEqual({ approved: false, by: "bob" });
      const next = approval.once({ timeoutMs: 10_000 });
      await approval.send(run.id, { approved: true, by: "alice" }, server(stack));
      expect(await next).toEqual({ approved: true, by: "alice" });
    } finally {
      setTaskRunContextProvider(previous);
    }
  });

  // Room for the worker process to start (node + tsx) on a loaded box before it runs the task.
  stackTest(
    "the llm-demo task run by the worker streams its answer with the run's own token",
    {
      timeout: 60_000,
    },
    async ({ stack }) => {
      const { id } = await tasks.trigger(
        "llm-demo",
        { prompt: "hi", tokensPerSecond: 400, seconds: 1 },
        {},
        server(stack),
      );
      const reader = { baseURL: stack.baseURL, accessToken: await token(stack, [`read:runs:${id}`]) };
      const text = collect(streams.read<string>(id, "llm", reader));
      const sentences = collect(streams.read<{ index: number; text: string }>(id, "sentences", reader));
      stack.startWorker();
      try {
        const answer = (await text).join("");
        const parts = await sentences;
        const run = await stack.prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: id } });
        expect(run.error).toBeNull();
        expect(run.status).toBe("COMPLETED_SUCCESSFULLY");
        const output = JSON.parse(run.output!) as { tokens: number; sentences: number; text: string };
        expect(output.tokens).toBeGreaterThanOrEqual(400);
        expect(answer.trim()).toBe(output.text);
        expect(parts.map((p) => p.index)).toEqual([...Array(output.sentences).keys()].map((i) => i + 1));
        expect(run.realtimeStreams.sort()).toEqual(["llm", "sentences"]);
      } finally {
        await stack.stopWorker();
      }
    },
  );
});
