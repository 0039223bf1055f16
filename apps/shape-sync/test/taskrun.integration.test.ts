/** The webapp's shapes on public."TaskRun": quoted column lists, env+tags+createdAt floor, id, batchId — all indexed. */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ShapeStream, Shape } from "@electric-sql/client";
import { RUN_STREAM_COLUMNS } from "@runfeed/core";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;

beforeAll(async () => {
  h = await createHarness();
  // This test database is ours: drop the FKs so runs can be inserted without the rest of the model.
  await h.pool.query(
    `ALTER TABLE "TaskRun" DROP CONSTRAINT "TaskRun_runtimeEnvironmentId_fkey", DROP CONSTRAINT "TaskRun_batchId_fkey"`,
  );
  await insertRun("run_1", "env_1", ["tag:a", "tag:b"], null);
  await insertRun("run_2", "env_1", ["tag:b"], "batch_1");
  await insertRun("run_3", "env_2", ["tag:a"], "batch_1");
});
afterAll(async () => h?.close());

async function insertRun(id: string, env: string, tags: string[], batch: string | null) {
  await h.pool.query(
    `INSERT INTO "TaskRun" (id, "taskIdentifier", "updatedAt", "friendlyId", payload, "runtimeEnvironmentId", "projectId", "runTags", "batchId", error)
     VALUES ($1, 'my-task', now(), $1, '{"x":1}', $2, 'proj', $3, $4, '{"message":"boom"}')`,
    [id, env, tags, batch],
  );
}

const columns = RUN_STREAM_COLUMNS.map((c) => `"${c}"`).join(",");

describe('public."TaskRun" shapes as the webapp requests them', () => {
  it("serves env + tags + createdAt-floor shapes with the run columns, indexed, live", async () => {
    const q = new URLSearchParams({
      table: `public."TaskRun"`,
      columns,
      where: `"runtimeEnvironmentId" = $1 AND "runTags" @> $2::text[] AND "createdAt" > $3`,
      "params[1]": "env_1",
      "params[2]": "{tag:b}",
      "params[3]": "2020-01-01T00:00:00.000Z",
      offset: "-1",
    });
    const r = await fetchJson(`${h.server.url}/v1/shape?${q}`);
    expect(r.status).toBe(200);
    const schema = JSON.parse(r.headers.get("electric-schema")!);
    expect(Object.keys(schema)).toHaveLength(26);
    expect(schema.createdAt).toEqual({ type: "timestamp", not_null: true, precision: 3 });
    expect(schema.status).toEqual({ type: "TaskRunStatus", not_null: true });
    expect(schema.runTags).toEqual({ type: "text", dims: 1 });
    expect(schema.id).toEqual({ type: "text", pk_index: 0, not_null: true });
    const rows = r.body.filter((m: any) => m.key);
    expect(rows.map((m: any) => m.value.id).sort()).toEqual(["run_1", "run_2"]);
    expect(rows[0].value.createdAt).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)?$/);
    expect(rows[0].value.error).toBe(`{"message": "boom"}`);
    expect(rows[0].value.isTest).toBe("false");
    expect(h.server.registry()!.router.indexStats().residual).toBe(0);

    const ac = new AbortController();
    const stream = new ShapeStream({
      url: `${h.server.url}/v1/shape`,
      params: {
        table: `public."TaskRun"`,
        columns: [...RUN_STREAM_COLUMNS],
        where: `"runtimeEnvironmentId" = $1 AND "runTags" @> $2::text[] AND "createdAt" > $3`,
        params: { 1: "env_1", 2: "{tag:b}", 3: "2020-01-01T00:00:00.000Z" } as never,
      },
      signal: ac.signal,
    });
    const shape = new Shape(stream);
    expect((await shape.rows).length).toBe(2);
    await insertRun("run_4", "env_1", ["tag:b", "tag:c"], null);
    await insertRun("run_5", "env_1", ["tag:c"], null);
    await h.pool.query(`UPDATE "TaskRun" SET status = 'EXECUTING', "runTags" = '{tag:x}' WHERE id = 'run_1'`);
    await h.pool.query(
      `UPDATE "TaskRun" SET status = 'COMPLETED_SUCCESSFULLY', "completedAt" = now() WHERE id = 'run_2'`,
    );
    await vi.waitFor(
      () => {
        const rowsNow = shape.currentRows as any[];
        expect(rowsNow.map((x) => x.id).sort()).toEqual(["run_2", "run_4"]);
        expect(rowsNow.find((x) => x.id === "run_2").status).toBe("COMPLETED_SUCCESSFULLY");
        expect(rowsNow.find((x) => x.id === "run_2").completedAt).toBeTruthy();
      },
      { timeout: 8000 },
    );
    ac.abort();
  });

  it("serves id = $1 and batchId = $1 shapes", async () => {
    const get = async (where: string, param: string) => {
      const q = new URLSearchParams({ table: `public."TaskRun"`, columns, where, "params[1]": param, offset: "-1" });
      const r = await fetchJson(`${h.server.url}/v1/shape?${q}`);
      expect(r.status).toBe(200);
      return r.body
        .filter((m: any) => m.key)
        .map((m: any) => m.value.id)
        .sort();
    };
    expect(await get("id = $1", "run_3")).toEqual(["run_3"]);
    expect(await get(`"batchId" = $1`, "batch_1")).toEqual(["run_2", "run_3"]);
    expect(h.server.registry()!.router.indexStats().residual).toBe(0);
  });
});
