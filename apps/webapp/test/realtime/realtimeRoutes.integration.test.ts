/**
 * The realtime routes' front door, without a shape server, once per backend: authentication (401),
 * environment isolation (404), scopes (403), tag validation (400), CORS, the limiter's 429 and an
 * unreachable upstream (503). ELECTRIC_ORIGIN points at a closed port: past the front door the
 * `electric` backend answers 503, the `native` one (which needs no shape server) answers the request
 * itself — 400 for these requests without an offset.
 */
import { generateBatchFriendlyId, generateRunFriendlyId } from "@runfeed/core";
import { SignJWT, UnsecuredJWT } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signPublicToken } from "../../app/services/auth.server.js";
import { FEED_AUTHENTICATION_TTL_MS } from "../../app/services/realtime/realtimeServices.server.js";
import { REALTIME_BACKENDS } from "../support/realtimeBackends.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";

let app: TestWebapp;
let runA: { id: string; friendlyId: string };
let runA2: { id: string; friendlyId: string };
let runB: { id: string; friendlyId: string };
let batchA: { id: string; friendlyId: string };

const env = (i: number) => app.project.environments[i]!;
const tokenFor = async (i: number, scopes: string[], exp: string | number = "1h") => {
  const environment = await app.webapp.services.prisma.runtimeEnvironment.findUniqueOrThrow({
    where: { id: env(i).id },
    include: { project: true, parentEnvironment: true },
  });
  return signPublicToken(environment, { scopes }, exp);
};
const get = (path: string, token: string, headers: Record<string, string> = {}) =>
  fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });

describe.each(REALTIME_BACKENDS)("%s backend", (backend) => {
  const AUTHORISED = backend === "electric" ? 503 : 400;

  beforeAll(async () => {
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9", REALTIME_BACKEND: backend });
    const { prisma } = app.webapp.services;
    const create = (i: number, extra: Record<string, unknown> = {}) =>
      prisma.taskRun.create({
        data: {
          friendlyId: generateRunFriendlyId(),
          taskIdentifier: "my-task",
          payload: "{}",
          runtimeEnvironmentId: env(i).id,
          projectId: app.project.projectId,
          ...extra,
        },
        select: { id: true, friendlyId: true },
      });
    batchA = await prisma.batchTaskRun.create({
      data: { friendlyId: generateBatchFriendlyId(), runtimeEnvironmentId: env(0).id, runCount: 1 },
      select: { id: true, friendlyId: true },
    });
    runA = await create(0, { runTags: ["user:1"], batchId: batchA.id });
    runA2 = await create(0, { taskIdentifier: "other-task" });
    runB = await create(1);
  });
  afterAll(() => app?.close());

  describe("authentication (checklist #32)", () => {
    it("rejects forged, expired, alg:none and wrong-key tokens with 401 JSON", async () => {
      const path = `/realtime/v1/runs/${runA.friendlyId}`;
      const valid = await tokenFor(0, ["read:runs"]);
      const [h, p] = valid.split(".");
      const forgedPayload = Buffer.from(
        JSON.stringify({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), scopes: ["admin"] }),
      ).toString("base64url");
      const claims = { pub: true, scopes: ["read:runs"] };
      const base = (jwt: SignJWT) =>
        jwt
          .setProtectedHeader({ alg: "HS256" })
          .setSubject(env(0).id)
          .setIssuer("https://id.trigger.dev")
          .setAudience("https://api.trigger.dev");
      const tokens = {
        forged: `${h}.${forgedPayload}.${valid.split(".")[2]}`,
        expired: await tokenFor(0, ["read:runs"], Math.floor(Date.now() / 1000) - 60),
        algNone: new UnsecuredJWT(claims)
          .setSubject(env(0).id)
          .setIssuer("https://id.trigger.dev")
          .setAudience("https://api.trigger.dev")
          .setExpirationTime("1h")
          .encode(),
        wrongKey: await base(new SignJWT(claims))
          .setExpirationTime("1h")
          .sign(new TextEncoder().encode(env(1).apiKey)),
        wrongIssuer: await new SignJWT(claims)
          .setProtectedHeader({ alg: "HS256" })
          .setSubject(env(0).id)
          .setIssuer("https://evil")
          .setAudience("https://api.trigger.dev")
          .setExpirationTime("1h")
          .sign(new TextEncoder().encode(env(0).apiKey)),
        garbage: "not-a-token",
      };
      for (const [name, token] of Object.entries(tokens)) {
        const response = await get(path, token);
        expect(response.status, name).toBe(401);
        expect(await response.json(), name).toHaveProperty("error");
        expect(response.headers.get("access-control-allow-origin"), name).toBe("*");
      }
      expect((await fetch(`${app.url}${path}`)).status).toBe(401);
    });
  });

  describe("environment isolation and scopes (checklist #25, #33)", () => {
    it("404s a run or batch of another environment, even with a full-access token", async () => {
      const tokenA = await tokenFor(0, ["read:all"]);
      const response = await get(`/realtime/v1/runs/${runB.friendlyId}`, tokenA);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ error: "Not found" });
      expect((await get(`/realtime/v1/runs/${runB.friendlyId}`, env(0).apiKey)).status).toBe(404);
      expect((await get(`/realtime/v1/batches/${batchA.friendlyId}`, await tokenFor(1, ["read:all"]))).status).toBe(
        404,
      );
      expect((await get(`/realtime/v1/runs/run_doesnotexist`, tokenA)).status).toBe(404);
    });

    it("403s a read:runs:X token reading run Y, with the exact body", async () => {
      const token = await tokenFor(0, [`read:runs:${runA.friendlyId}`]);
      const response = await get(`/realtime/v1/runs/${runA2.friendlyId}`, token);
      expect(response.status).toBe(403);
      expect(await response.json()).toEqual({
        error: "Unauthorized",
        code: "unauthorized",
        param: "access_token",
        type: "authorization",
      });
      expect(response.headers.get("access-control-allow-origin")).toBe("*");
    });

    it("grants a single run on runs, tasks, tags or batch scopes (any-of), else denies", async () => {
      const path = `/realtime/v1/runs/${runA.friendlyId}`;
      for (const scope of [
        `read:runs:${runA.friendlyId}`,
        "read:tasks:my-task",
        "read:tags:user:1",
        `read:batch:${batchA.friendlyId}`,
        "read:runs",
        "admin",
      ]) {
        // Past authorization: authorised.
        expect((await get(path, await tokenFor(0, [scope]))).status, scope).toBe(AUTHORISED);
      }
      for (const scope of ["read:tasks:other-task", "read:tags:user:2", "write:runs", "read:batch:batch_x"]) {
        expect((await get(path, await tokenFor(0, [scope]))).status, scope).toBe(403);
      }
    });

    it("authorizes tag feeds on runs, tags or any requested tag, and batches on batch or runs", async () => {
      expect((await get(`/realtime/v1/runs?tags=a,b`, await tokenFor(0, ["read:tags:b"]))).status).toBe(AUTHORISED);
      expect((await get(`/realtime/v1/runs?tags=a,b`, await tokenFor(0, ["read:tags"]))).status).toBe(AUTHORISED);
      expect((await get(`/realtime/v1/runs?tags=a,b`, await tokenFor(0, ["read:tags:c"]))).status).toBe(403);
      expect((await get(`/realtime/v1/runs`, await tokenFor(0, ["read:tags:c"]))).status).toBe(403);
      expect((await get(`/realtime/v1/runs`, await tokenFor(0, ["read:runs"]))).status).toBe(AUTHORISED);
      expect(
        (await get(`/realtime/v1/batches/${batchA.friendlyId}`, await tokenFor(0, [`read:batch:${batchA.friendlyId}`])))
          .status,
      ).toBe(AUTHORISED);
      expect((await get(`/realtime/v1/batches/${batchA.friendlyId}`, await tokenFor(0, ["read:runs"]))).status).toBe(
        AUTHORISED,
      );
      expect(
        (await get(`/realtime/v1/batches/${batchA.friendlyId}`, await tokenFor(0, [`read:runs:${runA.friendlyId}`])))
          .status,
      ).toBe(403);
    });
  });

  describe("tag validation (checklist #26)", () => {
    it("400s empty tags and tags with control characters, backslashes or double quotes", async () => {
      const token = await tokenFor(0, ["read:tags"]);
      for (const tags of ["a,,b", "a\\b", 'a"b', "a\nb", "x\x01"]) {
        const response = await get(`/realtime/v1/runs?tags=${encodeURIComponent(tags)}`, token);
        expect(response.status, JSON.stringify(tags)).toBe(400);
        expect(((await response.json()) as { error: string }).error).toMatch(/^Query Error/);
      }
    });
  });

  describe("transport", () => {
    it("answers preflights for browsers on other origins", async () => {
      const response = await fetch(`${app.url}/realtime/v1/runs/${runA.friendlyId}`, {
        method: "OPTIONS",
        headers: {
          origin: "https://app.example",
          "access-control-request-method": "GET",
          "access-control-request-headers":
            "authorization, trigger-version, x-trigger-electric-version, x-trigger-api-version",
        },
      });
      expect(response.status).toBe(200);
      expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example");
      expect(response.headers.get("access-control-allow-methods")).toContain("GET");
      expect(response.headers.get("access-control-allow-headers")).toContain("x-trigger-api-version");
    });

    it("maps an unreachable shape server to a retryable 503 with CORS (native: needs none)", async () => {
      const response = await get(`/realtime/v1/runs/${runA.friendlyId}?offset=-1`, env(0).apiKey, {
        origin: "https://app.example",
      });
      expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example");
      if (backend === "electric") {
        expect(response.status).toBe(503);
        expect(response.headers.get("retry-after")).toBe("1");
      } else {
        expect(response.status).toBe(200);
        const rows = ((await response.json()) as Array<{ key?: string; value?: { id: string } }>).filter((m) => m.key);
        expect(rows.map((m) => m.value!.id)).toEqual([runA.id]);
      }
    });

    it("429s live requests over the environment's limit without touching upstream", async () => {
      const { prisma } = app.webapp.services;
      await prisma.runtimeEnvironment.update({ where: { id: env(0).id }, data: { realtimeConcurrencyLimit: 0 } });
      try {
        // A token of its own: the feeds remember an authentication (and its environment's limit) for 1 s.
        const token = await tokenFor(0, ["read:runs", "read:tags:limit-zero"]);
        const live = await get(`/realtime/v1/runs/${runA.friendlyId}?handle=h&offset=0_0&live=true&cursor=`, token);
        expect(live.status).toBe(429);
        expect(await live.json()).toEqual({ error: "Too many concurrent requests" });
        expect(live.headers.get("retry-after")).toBeTruthy();
        expect(live.headers.get("access-control-allow-origin")).toBe("*");
        // Non-live (catch-up) requests are not limited.
        // (native: an unknown handle is answered 409 must-refetch)
        expect((await get(`/realtime/v1/runs/${runA.friendlyId}?handle=h&offset=0_0`, token)).status).toBe(
          backend === "electric" ? 503 : 409,
        );
      } finally {
        await prisma.runtimeEnvironment.update({ where: { id: env(0).id }, data: { realtimeConcurrencyLimit: null } });
      }
    });
  });

  describe("run-changed signals (docs/decisions/073-realtime-notifier-backend.md)", () => {
    it("open no Redis connection while every feed is electric; native publishes on its own connection", async () => {
      const response = await fetch(`${app.url}/api/v1/tasks/my-task/trigger`, {
        method: "POST",
        headers: { authorization: `Bearer ${env(0).apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ payload: "{}", options: { tags: ["signal:1"] } }),
      });
      expect(response.status).toBe(200);
      expect(app.webapp.services.runSignals.published).toBe(backend === "electric" ? 0 : 1);
      // native: the publisher, and the subscriber once a feed was served
      if (backend === "electric") expect(app.webapp.services.runSignals.connections).toBe(0);
      else expect(app.webapp.services.runSignals.connections).toBeGreaterThanOrEqual(1);
    });
  });

  describe("re-poll caches (docs/decisions/071-realtime-repoll-cpu.md)", () => {
    it("rejects a remembered token once it expires, and once its environment's key is rolled", async () => {
      const path = `/realtime/v1/runs/${runA.friendlyId}`;
      const exp = Math.floor(Date.now() / 1000) + 2;
      const shortLived = await tokenFor(0, ["read:runs"], exp);
      expect((await get(path, shortLived)).status).toBe(AUTHORISED);
      expect((await get(path, shortLived)).status).toBe(AUTHORISED); // the remembered verification
      await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 50));
      expect((await get(path, shortLived)).status).toBe(401);

      const { prisma } = app.webapp.services;
      const token = await tokenFor(1, ["read:runs"]);
      const runPath = `/realtime/v1/runs/${runB.friendlyId}`;
      expect((await get(runPath, token)).status).toBe(AUTHORISED);
      const original = env(1).apiKey;
      await prisma.runtimeEnvironment.update({ where: { id: env(1).id }, data: { apiKey: `${original}_rolled` } });
      try {
        // The feeds remember an authentication for FEED_AUTHENTICATION_TTL_MS: refused once that has passed.
        const rolledAt = Date.now();
        let status = (await get(runPath, token)).status;
        while (status !== 401 && Date.now() - rolledAt < FEED_AUTHENTICATION_TTL_MS + 5_000) {
          await new Promise((r) => setTimeout(r, 50));
          status = (await get(runPath, token)).status;
        }
        expect(status).toBe(401);
      } finally {
        await prisma.runtimeEnvironment.update({ where: { id: env(1).id }, data: { apiKey: original } });
      }
    });

    it("never authorizes on a remembered run's tags: a removed tag denies at once", async () => {
      const { prisma } = app.webapp.services;
      const run = await prisma.taskRun.create({
        data: {
          friendlyId: generateRunFriendlyId(),
          taskIdentifier: "my-task",
          payload: "{}",
          runtimeEnvironmentId: env(0).id,
          projectId: app.project.projectId,
          runTags: ["t:1"],
        },
        select: { id: true, friendlyId: true },
      });
      const path = `/realtime/v1/runs/${run.friendlyId}`;
      const byTag = await tokenFor(0, ["read:tags:t:1"]);
      expect((await get(path, await tokenFor(0, ["read:runs"]))).status).toBe(AUTHORISED); // remembered now
      expect((await get(path, byTag)).status).toBe(AUTHORISED);
      await prisma.taskRun.update({ where: { id: run.id }, data: { runTags: [] } });
      expect((await get(path, byTag)).status).toBe(403);
      expect((await get(path, await tokenFor(0, ["read:tasks:my-task"]))).status).toBe(AUTHORISED);
    });
  });
});
