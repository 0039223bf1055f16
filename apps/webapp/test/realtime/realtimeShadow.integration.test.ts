/**
 * Shadow mode over the seeded differential workload (docs/decisions/073-realtime-notifier-backend.md):
 * every initial feed request is answered by the shape server and also natively, and the two answers
 * are compared row by row. Hostile tags, ages around the createdAt windows (30 s either side of each
 * edge), runs, tags and batches: zero differences, and the clients get the shape server's answers.
 */
import { randomBytes } from "node:crypto";
import { generateBatchFriendlyId, generateRunFriendlyId } from "@runfeed/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startWebappWithShapeServer, type WebappWithShapeServer } from "../support/shapeServer.js";

let stack: WebappWithShapeServer;
const app = () => stack.app;
const env = (i: number) => app().project.environments[i]!;
const get = (path: string) =>
  fetch(`${app().url}${path}`, {
    headers: { authorization: `Bearer ${env(1).apiKey}`, "x-trigger-api-version": "2025-07-16" },
  });
const metric = async (name: string) => {
  const text = await app().webapp.services.metrics.registry.metrics();
  return text
    .split("\n")
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(" ").pop()), 0);
};

beforeAll(async () => {
  stack = await startWebappWithShapeServer({ REALTIME_BACKEND: "shadow", REALTIME_SHADOW_SAMPLE_RATE: "1" });
}, 120_000);
afterAll(() => stack?.close());

describe("shadow mode", () => {
  it("finds no difference between the backends over hostile tags, window edges, runs and batches", async () => {
    const { prisma } = app().webapp.services;
    const ns = `s${randomBytes(3).toString("hex")}-`;
    const pool = [`${ns}a`, `${ns}it's`, `${ns}x y`, `${ns}ü`, `${ns}'); DROP TABLE x; --`, `${ns}a,b`];
    const MIN = 60_000;
    const edges = [30 * MIN, 60 * MIN, 360 * MIN, 24 * 60 * MIN];
    const ages = edges.flatMap((edge) => [edge - 30_000, edge + 30_000]).concat([10_000]);
    const batch = await prisma.batchTaskRun.create({
      data: { friendlyId: generateBatchFriendlyId(), runtimeEnvironmentId: env(1).id, runCount: 10 },
    });
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const made = [];
    for (let i = 0; i < 40; i++) {
      made.push(
        await prisma.taskRun.create({
          data: {
            friendlyId: generateRunFriendlyId(),
            taskIdentifier: "shadow-task",
            payload: JSON.stringify({ i, text: 'quote " and \\ backslash' }),
            metadata: i % 3 === 0 ? JSON.stringify({ n: i }) : null,
            runtimeEnvironmentId: env(1).id,
            projectId: app().project.projectId,
            runTags: pool.filter(() => random() < 0.4),
            createdAt: new Date(Date.now() - ages[i % ages.length]!),
            batchId: i % 4 === 0 ? batch.id : null,
            isTest: i % 2 === 0,
            status: i % 5 === 0 ? "DEQUEUED" : "PENDING",
          },
        }),
      );
    }
    const queries: string[] = [];
    for (const tag of pool) {
      for (const window of ["", "&createdAt=30m", "&createdAt=1h", "&createdAt=6h", "&createdAt=2d"])
        queries.push(`/realtime/v1/runs?offset=-1&tags=${encodeURIComponent(tag)}${window}`);
    }
    queries.push(`/realtime/v1/runs?offset=-1&tags=${encodeURIComponent(`${pool[0]},${pool[1]}`)}&createdAt=6h`);
    queries.push(`/realtime/v1/batches/${batch.friendlyId}?offset=-1`);
    queries.push(`/realtime/v1/batches/${batch.friendlyId}?offset=-1&skipColumns=payload,metadata`);
    for (const run of made.slice(0, 10)) queries.push(`/realtime/v1/runs/${run.friendlyId}?offset=-1`);
    let rows = 0;
    for (const query of queries) {
      const response = await get(query);
      expect(response.status, query).toBe(200);
      rows += ((await response.json()) as Array<{ key?: string }>).filter((m) => m.key).length;
    }
    expect(rows).toBeGreaterThan(50);
    expect(await metric("runfeed_realtime_shadow_comparisons_total")).toBe(queries.length);
    expect(await metric("runfeed_realtime_shadow_differences_total")).toBe(0);
  });
});
