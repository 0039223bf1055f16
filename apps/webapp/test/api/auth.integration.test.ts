/**
 * Authentication rejections (checklist #30–#32) and every scope case of §4.4 on real routes (#33),
 * public-token minting (#34, #35) and one-time-use trigger tokens (#38).
 */
import { decodeJwt } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { api, createAdditionalKey, forgeJwt, signJwt, AUD, ISS } from "./helpers.js";

const FORBIDDEN = { error: "Unauthorized", code: "unauthorized", param: "access_token", type: "authorization" };

describe("authentication and authorization", () => {
  let app: TestWebapp;
  let prod: TestWebapp["project"]["environments"][number];
  let staging: TestWebapp["project"]["environments"][number];
  let runId: string;
  let batchRunId: string;
  let batchId: string;
  let root: ReturnType<typeof api>;

  beforeAll(async () => {
    app = await startTestWebapp();
    prod = app.project.environments.find((e) => e.slug === "prod")!;
    staging = app.project.environments.find((e) => e.slug === "staging")!;
    root = api(app.url, prod.apiKey);
    const run = await root("POST", "/api/v1/tasks/scoped-task/trigger", {
      payload: "{}",
      options: { tags: ["env:prod", "blue"] },
    });
    runId = run.json.id;
    const batch = await root("POST", "/api/v3/batches", { runCount: 1 });
    batchId = batch.json.id;
    const items = await root(
      "POST",
      `/api/v3/batches/${batchId}/items`,
      JSON.stringify({ index: 0, task: "batch-task", payload: "{}" }),
      {
        "content-type": "application/x-ndjson",
      },
    );
    expect(items.status, items.text).toBe(200);
    batchRunId = (
      await app.webapp.services.prisma.taskRun.findFirstOrThrow({ where: { batch: { friendlyId: batchId } } })
    ).friendlyId;
  });
  afterAll(() => app?.close());

  const jwt = (options: Parameters<typeof signJwt>[2]) => signJwt(prod.id, prod.apiKey, options);
  const retrieveWith = async (token: string | undefined, id = runId) =>
    api(app.url, token)("GET", `/api/v3/runs/${id}`);

  describe("401 rejections", () => {
    const expect401 = (res: { status: number; json: any; headers: Headers }) => {
      expect(res.status).toBe(401);
      expect(res.headers.get("content-type")).toContain("application/json");
      expect(typeof res.json.error).toBe("string");
    };

    it("a valid token is accepted (control)", async () => {
      expect((await retrieveWith(await jwt({ scopes: ["read:runs"] }))).status).toBe(200);
      expect((await retrieveWith(prod.apiKey)).status).toBe(200);
    });

    it("missing bearer", async () => {
      const res = await retrieveWith(undefined);
      expect401(res);
      expect(res.json).toEqual({ error: "Invalid or Missing API key" });
      expect401(await api(app.url, undefined)("GET", `/api/v3/runs/${runId}`, undefined, { authorization: "Bearer " }));
    });

    it("unknown root key and unknown additional key", async () => {
      expect401(await retrieveWith("tr_prod_aaaaaaaaaaaaaaaaaaaaaaaa"));
      expect401(await retrieveWith("tr_prod_sk_aaaaaaaaaaaaaaaaaaaaaaaa"));
      expect401(await retrieveWith("not-a-key-at-all"));
    });

    it("revoked and expired additional keys", async () => {
      const prisma = app.webapp.services.prisma;
      const live = await createAdditionalKey(prisma, prod, ["read:runs"]);
      const revoked = await createAdditionalKey(prisma, prod, ["read:runs"], { revokedAt: new Date() });
      const expired = await createAdditionalKey(prisma, prod, ["read:runs"], {
        expiresAt: new Date(Date.now() - 1000),
      });
      expect((await retrieveWith(live)).status).toBe(200);
      expect401(await retrieveWith(revoked));
      expect401(await retrieveWith(expired));
    });

    it("alg none, RS256-shaped and HS512 tokens", async () => {
      const payload = {
        pub: true,
        sub: prod.id,
        scopes: ["admin"],
        iss: ISS,
        aud: AUD,
        exp: Math.floor(Date.now() / 1000) + 600,
      };
      expect401(await retrieveWith(forgeJwt({ alg: "none" }, payload)));
      expect401(await retrieveWith(forgeJwt({ alg: "RS256", typ: "JWT" }, payload, "c2lnbmF0dXJl")));
      expect401(await retrieveWith(await jwt({ scopes: ["admin"], alg: "HS512" })));
    });

    it("wrong key, missing exp, past exp, wrong iss, wrong aud", async () => {
      expect401(await retrieveWith(await signJwt(prod.id, staging.apiKey, { scopes: ["admin"] })));
      expect401(await retrieveWith(await jwt({ scopes: ["admin"], exp: null })));
      expect401(await retrieveWith(await jwt({ scopes: ["admin"], exp: Math.floor(Date.now() / 1000) - 10 })));
      expect401(await retrieveWith(await jwt({ scopes: ["admin"], iss: "https://evil.example" })));
      expect401(await retrieveWith(await jwt({ scopes: ["admin"], aud: "https://evil.example" })));
    });

    it("unknown sub, and JWTs on secret-key-only routes", async () => {
      expect401(await retrieveWith(await signJwt("nonexistent-env", prod.apiKey, { scopes: ["admin"] })));
      const token = await jwt({ scopes: ["admin"] });
      expect401(await api(app.url, token)("PUT", `/api/v1/runs/${runId}/metadata`, { operations: [] }));
      expect401(await api(app.url, token)("POST", "/api/v1/auth/public-tokens", { scopes: ["read:runs"] }));
      expect401(await api(app.url, token)("POST", "/api/v1/auth/jwt/claims"));
    });
  });

  describe("scope cases of §4.4 on GET /api/v3/runs/:id (read; runs, tasks, tags, batch)", () => {
    const cases: Array<[string, string[], number, "run" | "batchRun"]> = [
      ["bare admin is universal", ["admin"], 200, "run"],
      ["admin:<type> is not universal", ["admin:runs"], 403, "run"],
      ["action * on the type", ["*:runs"], 200, "run"],
      ["action * on another type", ["*:queues"], 403, "run"],
      ["type all", ["read:all"], 200, "run"],
      ["type all with another action", ["write:all"], 403, "run"],
      ["type-wide", ["read:runs"], 200, "run"],
      ["exact id", ["read:runs:RUN"], 200, "run"],
      ["other id", ["read:runs:run_other"], 403, "run"],
      ["other action on the id", ["write:runs:RUN"], 403, "run"],
      ["task id", ["read:tasks:scoped-task"], 200, "run"],
      ["tag id containing a colon", ["read:tags:env:prod"], 200, "run"],
      ["tag id prefix before the colon", ["read:tags:env"], 403, "run"],
      ["any-of tags", ["read:tags:nope", "read:tags:blue"], 200, "run"],
      ["batch id", ["read:batch:BATCH"], 200, "batchRun"],
      ["batch id on a run outside the batch", ["read:batch:BATCH"], 403, "run"],
      ["empty scope list", [], 403, "run"],
      ["malformed scopes", ["read", "read:", ":runs"], 403, "run"],
    ];
    for (const [name, scopes, status, target] of cases) {
      it(`${name}: ${JSON.stringify(scopes)} → ${status}`, async () => {
        const id = target === "run" ? runId : batchRunId;
        const resolved = scopes.map((s) => s.replace("RUN", runId).replace("BATCH", batchId));
        const res = await retrieveWith(await jwt({ scopes: resolved }), id);
        expect(res.status, res.text).toBe(status);
        if (status === 403) expect(res.json).toEqual(FORBIDDEN);
        else expect(res.json.id).toBe(id);
      });
    }
  });

  describe("scopes on write routes", () => {
    it("trigger needs trigger:tasks:<id> (or wider)", async () => {
      const trigger = async (scopes: string[], task = "scoped-task") =>
        api(app.url, await jwt({ scopes }))("POST", `/api/v1/tasks/${task}/trigger`, { payload: "{}" });
      expect((await trigger(["trigger:tasks:scoped-task"])).status).toBe(200);
      expect((await trigger(["trigger:tasks"])).status).toBe(200);
      expect((await trigger(["trigger:all"])).status).toBe(200);
      const other = await trigger(["trigger:tasks:scoped-task"], "other-task");
      expect(other.status).toBe(403);
      expect(other.json).toEqual(FORBIDDEN);
      expect((await trigger(["read:tasks:scoped-task"])).status).toBe(403);
      expect((await trigger(["batchTrigger:tasks:scoped-task"])).status).toBe(403);
    });

    it("batch create: a resource without id needs a type-wide scope; listed tasks need each id", async () => {
      const create = async (scopes: string[], body: object) =>
        api(app.url, await jwt({ scopes }))("POST", "/api/v3/batches", body);
      expect((await create(["batchTrigger:tasks"], { runCount: 1 })).status).toBe(200);
      expect((await create(["batchTrigger:tasks:x"], { runCount: 1 })).status).toBe(403);
      expect((await create(["batchTrigger:tasks:x"], { runCount: 1, taskIdentifiers: ["x"] })).status).toBe(200);
      expect((await create(["batchTrigger:tasks:x"], { runCount: 2, taskIdentifiers: ["x", "y"] })).status).toBe(403);
    });

    it("cancel needs write on the run or its task", async () => {
      const victim = (await root("POST", "/api/v1/tasks/cancel-task/trigger", { payload: "{}" })).json.id as string;
      const cancel = async (scopes: string[]) =>
        api(app.url, await jwt({ scopes }))("POST", `/api/v2/runs/${victim}/cancel`);
      const denied = await cancel([`read:runs:${victim}`]);
      expect(denied.status).toBe(403);
      expect(denied.json).toEqual(FORBIDDEN);
      expect((await cancel(["write:tasks:cancel-task"])).status).toBe(200);
      expect((await cancel([`write:runs:${victim}`])).json).toEqual({ id: victim });
    });

    it("additional keys carry their scopes", async () => {
      const prisma = app.webapp.services.prisma;
      const reader = api(app.url, await createAdditionalKey(prisma, prod, ["read:runs"]));
      const writer = api(app.url, await createAdditionalKey(prisma, prod, [`write:runs:${runId}`]));
      const put = { operations: [{ type: "set", key: "k", value: 1 }] };
      expect((await reader("GET", `/api/v1/runs/${runId}/metadata`)).status).toBe(200);
      const denied = await reader("PUT", `/api/v1/runs/${runId}/metadata`, put);
      expect(denied.status).toBe(403);
      expect(denied.json).toEqual(FORBIDDEN);
      expect((await writer("PUT", `/api/v1/runs/${runId}/metadata`, put)).status).toBe(200);
      expect((await reader("POST", "/api/v1/tasks/scoped-task/trigger", { payload: "{}" })).status).toBe(403);
    });
  });

  describe("POST /api/v1/auth/jwt/claims and /api/v1/auth/public-tokens", () => {
    it("claims name the environment", async () => {
      const res = await root("POST", "/api/v1/auth/jwt/claims");
      expect(res.json).toEqual({ sub: prod.id, pub: true });
    });

    it("mints a token within the key's scopes, with otu and realtime claims", async () => {
      const key = api(
        app.url,
        await createAdditionalKey(app.webapp.services.prisma, prod, ["read:runs", "trigger:tasks:scoped-task"]),
      );
      const res = await key("POST", "/api/v1/auth/public-tokens", {
        scopes: [`read:runs:${runId}`, "trigger:tasks:scoped-task"],
        expirationTime: "2h",
        oneTimeUse: true,
        realtime: { skipColumns: ["payload"] },
      });
      expect(res.status, res.text).toBe(200);
      const claims = decodeJwt(res.json.token);
      expect(claims).toMatchObject({
        sub: prod.id,
        pub: true,
        otu: true,
        realtime: { skipColumns: ["payload"] },
        iss: ISS,
        aud: AUD,
      });
      expect(claims.exp! - Math.floor(Date.now() / 1000)).toBeGreaterThan(7100);
      expect((await retrieveWith(res.json.token)).status).toBe(200);
    });

    it("refuses scopes beyond the key with the exact body", async () => {
      const key = api(app.url, await createAdditionalKey(app.webapp.services.prisma, prod, ["read:runs"]));
      const res = await key("POST", "/api/v1/auth/public-tokens", {
        scopes: ["read:runs:run_a", "write:runs:run_a", "admin", "read:all"],
      });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({
        error: "Requested scopes exceed the API key's access",
        code: "scopes_exceed_key_access",
        deniedScopes: ["write:runs:run_a", "admin", "read:all"],
      });
    });

    it("validates the body and the expiry (future, ≤ 30 days)", async () => {
      const post = (body: unknown) => root("POST", "/api/v1/auth/public-tokens", body);
      expect((await post({ scopes: [] })).status).toBe(400);
      expect((await post({})).json.error).toContain("scopes");
      expect((await post({ scopes: ["read:runs"], expirationTime: Math.floor(Date.now() / 1000) - 5 })).status).toBe(
        400,
      );
      expect((await post({ scopes: ["read:runs"], expirationTime: "31d" })).status).toBe(400);
      expect((await post({ scopes: ["read:runs"], expirationTime: "whenever" })).status).toBe(400);
      expect((await post({ scopes: ["read:runs"], expirationTime: "30d" })).status).toBe(200);
      const epoch = Math.floor(Date.now() / 1000) + 3600;
      const res = await post({ scopes: ["read:runs"], expirationTime: epoch });
      expect(decodeJwt(res.json.token).exp).toBe(epoch);
    });
  });

  it("a one-time-use trigger token works once, then 422", async () => {
    const token = await jwt({ scopes: ["trigger:tasks:otu-task"], otu: true });
    const trigger = () => api(app.url, token)("POST", "/api/v1/tasks/otu-task/trigger", { payload: "{}" });
    const [first, second] = [await trigger(), await trigger()];
    expect(first.status).toBe(200);
    expect(second.status).toBe(422);
    expect(second.json).toEqual({
      error: "Cannot trigger otu-task with a one-time use token as it has already been used.",
    });
    const stored = await app.webapp.services.prisma.taskRun.findFirstOrThrow({ where: { friendlyId: first.json.id } });
    expect(stored.oneTimeUseToken).toMatch(/^[0-9a-f]{64}$/);
  });
});
