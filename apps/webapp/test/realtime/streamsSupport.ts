/**
 * Shared by the realtime stream tests: a webapp with a fast stream sweeper in front of a real shape
 * server, runs to write to, and a raw SSE reader (the TCP proxy a test can cut is @runfeed/devstack/fixtures').
 */
import { freePort, spawnShapeSync, type ShapeSyncProcess } from "@runfeed/devstack";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { SDK_HEADERS } from "../api/helpers.js";

export interface StreamsStack {
  app: TestWebapp;
  shapeSync: ShapeSyncProcess;
  baseURL: string;
  /** The dev environment's root secret key and id. */
  secretKey: string;
  environmentId: string;
  close(): Promise<void>;
}

/** Sweeps every 200 ms and ends idle streams after 3 s unless `overrides` say otherwise. */
export async function startStreamsStack(overrides: Record<string, string> = {}): Promise<StreamsStack> {
  const port = await freePort();
  let shapeSync: ShapeSyncProcess | undefined;
  const app = await startTestWebapp(
    {
      ELECTRIC_ORIGIN: `http://127.0.0.1:${port}`,
      REALTIME_STREAM_SWEEP_INTERVAL_MS: "200",
      REALTIME_STREAM_IDLE_TIMEOUT_MS: "3000",
      ...overrides,
    },
    {
      beforeStart: async (database) => {
        shapeSync = await spawnShapeSync({ databaseUrl: database.url, port });
        return {};
      },
    },
  );
  const dev = app.project.environments.find((e) => e.slug === "dev")!;
  return {
    app,
    shapeSync: shapeSync!,
    baseURL: app.url,
    secretKey: dev.apiKey,
    environmentId: dev.id,
    async close() {
      await app.close().catch(() => {});
      await shapeSync?.stop();
    },
  };
}

/** Triggers a run (nobody executes it: the worker is off) and returns its friendly and internal id. */
export async function triggerRun(
  stack: StreamsStack,
  options: { tags?: string[]; key?: string } = {},
): Promise<{ id: string; internalId: string; publicToken: string }> {
  const response = await fetch(`${stack.baseURL}/api/v1/tasks/stream-task/trigger`, {
    method: "POST",
    headers: { ...SDK_HEADERS, authorization: `Bearer ${options.key ?? stack.secretKey}` },
    body: JSON.stringify({ payload: "{}", options: { tags: options.tags } }),
  });
  if (!response.ok) throw new Error(`trigger: ${response.status} ${await response.text()}`);
  const { id } = (await response.json()) as { id: string };
  const run = await stack.app.webapp.services.prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: id } });
  return { id, internalId: run.id, publicToken: response.headers.get("x-trigger-jwt")! };
}

/** Finishes a run the way the worker does (status + completedAt), so its streams end. */
export async function completeRun(stack: StreamsStack, internalId: string): Promise<void> {
  await stack.app.webapp.services.prisma.taskRun.update({
    where: { id: internalId },
    data: { status: "COMPLETED_SUCCESSFULLY", completedAt: new Date() },
  });
}

export interface SseEvent {
  id?: string;
  data: string;
}

/** Reads an SSE response to its end (or until `until` says stop), parsing `id:`/`data:` events. */
export async function readSse(
  response: Response,
  until?: (events: SseEvent[]) => boolean,
): Promise<{ events: SseEvent[]; ended: boolean }> {
  const events: SseEvent[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { events, ended: true };
    buffer += value;
    let boundary = buffer.indexOf("\n\n");
    while (boundary !== -1) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      boundary = buffer.indexOf("\n\n");
      let id: string | undefined;
      const data: string[] = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) id = line.slice(4);
        else if (line.startsWith("data: ")) data.push(line.slice(6));
      }
      if (data.length > 0) events.push({ id, data: data.join("\n") });
    }
    if (until?.(events)) {
      await reader.cancel().catch(() => {});
      return { events, ended: false };
    }
  }
}
