/**
 * The critical trigger path without Prisma's create (runInsert.server.ts): a single trigger is one
 * prepared INSERT on the services' pg pool, a batch's items one multi-row INSERT. Every behaviour of
 * the ordinary path is kept: the returned run is what a read of the row gives, idempotency keys, one-time
 * tokens, tags, parents, expired keys, a key repeated inside one batch request, conflicts and bad values.
 */
import { generateRunFriendlyId, generateRunId } from "@runfeed/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  INSERT_MANY_SQL,
  insertManyParams,
  insertRunPrepared,
  insertedTaskRun,
  type NewRun,
} from "../../app/services/runInsert.server.js";
import { prepareRun, triggerRun } from "../../app/services/trigger.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { api } from "./helpers.js";

let app: TestWebapp;
let prod: TestWebapp["project"]["environments"][number];
let dev: TestWebapp["project"]["environments"][number];
let root: ReturnType<typeof api>;
const prisma = () => app.webapp.services.prisma;
const pool = () => app.webapp.services.sqlPool;
const environment = (e: typeof prod) => ({ id: e.id, projectId: app.project.projectId, type: e.type });
const ndjson = (items: unknown[]) => `${items.map((i) => JSON.stringify(i)).join("\n")}\n`;
const nd = { "content-type": "application/x-ndjson" };

beforeAll(async () => {
  app = await startTestWebapp();
  prod = app.project.environments.find((e) => e.slug === "prod")!;
  dev = app.project.environments.find((e) => e.slug === "dev")!;
  root = api(app.url, prod.apiKey);
});
afterAll(() => app?.close());

describe("single trigger: prepared INSERT on pg", () => {
  it("returns exactly the run a read of the row gives, for every option", async () => {
    const parents = new Map<string, string>();
    for (const env of [prod, dev]) {
      const { run } = await triggerRun(
        prisma(),
        { environment: environment(env), taskId: "parent", body: { payload: "{}" }, metadataMaximumSize: 1024 },
        pool(),
      );
      parents.set(env.id, run.friendlyId);
    }
    const cases = [
      { payload: '{"a":1}' },
      {
        payload: { raw: true },
        options: {
          tags: ['quo"te', "back\\slash", "{brace}", "comma,here", "sp ace", "ünï"],
          delay: "1h",
          ttl: "5m",
          metadata: { progress: 0.5 },
          maxAttempts: 3,
          concurrencyKey: "ck",
          queue: { name: "q" },
          test: true,
          parentRunId: "(per environment)",
          idempotencyKey: "fast-1",
          idempotencyKeyTTL: "1h",
        },
      },
    ];
    for (const body of cases) {
      for (const env of [prod, dev]) {
        const options = body.options && { ...body.options, parentRunId: parents.get(env.id) };
        const { run, isCached } = await triggerRun(
          prisma(),
          { environment: environment(env), taskId: "fast", body: { ...body, options }, metadataMaximumSize: 1024 },
          pool(),
        );
        expect(isCached).toBe(false);
        expect(run).toEqual(await prisma().taskRun.findUniqueOrThrow({ where: { id: run.id } }));
      }
    }
    // The prepared statement itself (no fallback possible here): its row reads back as insertedTaskRun says.
    const prepared = await prepareRun(prisma(), {
      environment: environment(prod),
      taskId: "direct",
      body: { ...cases[1]!, options: { ...cases[1]!.options, parentRunId: parents.get(prod.id) } },
      metadataMaximumSize: 1024,
    } as Parameters<typeof prepareRun>[1]);
    if (prepared.kind !== "new") throw new Error("expected a new run");
    expect(await insertRunPrepared(pool(), prepared.row)).toBe(true);
    expect(insertedTaskRun(prepared.row)).toEqual(
      await prisma().taskRun.findUniqueOrThrow({ where: { id: prepared.row.id } }),
    );
    const child = await prisma().taskRun.findFirstOrThrow({
      where: { idempotencyKey: "fast-1", runtimeEnvironmentId: prod.id },
    });
    const parent = await prisma().taskRun.findUniqueOrThrow({ where: { friendlyId: parents.get(prod.id) } });
    expect(child).toMatchObject({ parentTaskRunId: parent.id, rootTaskRunId: parent.id, depth: 1 });
    expect(child.runTags).toEqual(['quo"te', "back\\slash", "{brace}", "comma,here", "sp ace", "ünï"]);
  });

  it("concurrent first triggers with one key make one run; the rest answer it as cached", async () => {
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        root("POST", "/api/v1/tasks/race/trigger", { payload: "{}", options: { idempotencyKey: "race-key" } }),
      ),
    );
    const ids = new Set(results.map((r) => r.json.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.json.isCached === false)).toHaveLength(1);
    expect(await prisma().taskRun.count({ where: { idempotencyKey: "race-key" } })).toBe(1);
  });

  it("an expired key is handed over to a new run (the ordinary path, one transaction)", async () => {
    const first = await root("POST", "/api/v1/tasks/exp/trigger", {
      payload: "{}",
      options: { idempotencyKey: "exp-key", idempotencyKeyTTL: "1s" },
    });
    await prisma().taskRun.update({
      where: { friendlyId: first.json.id },
      data: { idempotencyKeyExpiresAt: new Date(Date.now() - 1000) },
    });
    const second = await root("POST", "/api/v1/tasks/exp/trigger", {
      payload: "{}",
      options: { idempotencyKey: "exp-key" },
    });
    expect(second.json).toMatchObject({ isCached: false });
    expect(second.json.id).not.toBe(first.json.id);
    expect((await prisma().taskRun.findUniqueOrThrow({ where: { friendlyId: first.json.id } })).idempotencyKey).toBe(
      null,
    );
  });

  it("a conflicting row is reported, not thrown; a value Postgres refuses is a 400 and writes nothing", async () => {
    const { run } = await triggerRun(
      prisma(),
      { environment: environment(prod), taskId: "dup", body: { payload: "{}" }, metadataMaximumSize: 1024 },
      pool(),
    );
    // Same friendly id, new internal id: only the friendlyId index conflicts.
    const row = { ...run, id: generateRunId() } as NewRun;
    expect(await insertRunPrepared(pool(), row)).toBe(false);
    const error = await pool()
      .query(INSERT_MANY_SQL, insertManyParams([row]))
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe("23505"); // the batch answers it with a 409

    const nul = await root("POST", "/api/v1/tasks/nul-task/trigger", { payload: "a\u0000b" });
    expect(nul.status).toBe(400);
    expect(nul.json.error).toMatch(/Invalid value/);
    expect(await prisma().taskRun.count({ where: { taskIdentifier: "nul-task" } })).toBe(0);
  });

  it("insertedTaskRun maps every column of the model", async () => {
    const run = insertedTaskRun({
      ...(await prisma().taskRun.findFirstOrThrow()),
      id: generateRunId(),
      friendlyId: generateRunFriendlyId(),
    } as NewRun);
    const columns = Object.keys(await prisma().taskRun.findFirstOrThrow()).sort();
    expect(Object.keys(run).sort()).toEqual(columns);
  });
});

describe("batch items: one multi-row INSERT", () => {
  it("1,000 items in one request become 1,000 runs with their tags, payloads and batch", async () => {
    const created = await root("POST", "/api/v3/batches", { runCount: 1000 });
    const items = Array.from({ length: 1000 }, (_, i) => ({
      index: i,
      task: "bulk",
      payload: `{"i":${i}}`,
      options: { tags: [`n:${i}`, 'q"t'] },
    }));
    const res = await root("POST", `/api/v3/batches/${created.json.id}/items`, ndjson(items), nd);
    expect(res.json).toEqual({ id: created.json.id, itemsAccepted: 1000, itemsDeduplicated: 0, sealed: true });
    const runs = await prisma().taskRun.findMany({ where: { batch: { friendlyId: created.json.id } } });
    expect(runs).toHaveLength(1000);
    const byIndex = new Map(runs.map((r) => [JSON.parse(r.payload).i as number, r]));
    expect(byIndex.get(777)!.runTags).toEqual(["n:777", 'q"t']);
    expect(byIndex.get(0)!).toMatchObject({ status: "PENDING", queue: "task/bulk", depth: 0, realtimeStreams: [] });
  });

  it("a key repeated in one request is one run; a stored key is answered, not inserted; parents resolve once", async () => {
    const parent = (await root("POST", "/api/v1/tasks/bp/trigger", { payload: "{}" })).json.id as string;
    await root("POST", "/api/v1/tasks/bk/trigger", { payload: "{}", options: { idempotencyKey: "stored" } });
    const created = await root("POST", "/api/v3/batches", { runCount: 4 });
    const res = await root(
      "POST",
      `/api/v3/batches/${created.json.id}/items`,
      ndjson([
        { index: 0, task: "bk", payload: "{}", options: { idempotencyKey: "twice", parentRunId: parent } },
        { index: 1, task: "bk", payload: "{}", options: { idempotencyKey: "twice", parentRunId: parent } },
        { index: 2, task: "bk", payload: "{}", options: { idempotencyKey: "stored" } },
        { index: 3, task: "bk", payload: "{}", options: { parentRunId: parent } },
      ]),
      nd,
    );
    expect(res.json).toEqual({ id: created.json.id, itemsAccepted: 4, itemsDeduplicated: 0, sealed: true });
    expect(await prisma().taskRun.count({ where: { taskIdentifier: "bk", idempotencyKey: "twice" } })).toBe(1);
    expect(await prisma().taskRun.count({ where: { taskIdentifier: "bk", idempotencyKey: "stored" } })).toBe(1);
    const children = await prisma().taskRun.findMany({ where: { batch: { friendlyId: created.json.id } } });
    expect(children).toHaveLength(2);
    const parentRow = await prisma().taskRun.findUniqueOrThrow({ where: { friendlyId: parent } });
    for (const child of children) expect(child).toMatchObject({ parentTaskRunId: parentRow.id, depth: 1 });
  });

  it("an unknown parent or a refused value fails the whole request and writes nothing", async () => {
    const created = await root("POST", "/api/v3/batches", { runCount: 2 });
    const path = `/api/v3/batches/${created.json.id}/items`;
    const orphan = await root(
      "POST",
      path,
      ndjson([
        { index: 0, task: "bad", payload: "{}" },
        { index: 1, task: "bad", payload: "{}", options: { parentRunId: "run_nope" } },
      ]),
      nd,
    );
    expect(orphan.status).toBe(422);
    const nul = await root(
      "POST",
      path,
      ndjson([
        { index: 0, task: "bad", payload: "{}" },
        { index: 1, task: "bad", payload: "x\u0000y" },
      ]),
      nd,
    );
    expect(nul.status).toBe(400);
    expect(await prisma().taskRun.count({ where: { taskIdentifier: "bad" } })).toBe(0);
  });
});
