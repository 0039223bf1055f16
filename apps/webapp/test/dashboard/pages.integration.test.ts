/**
 * The API keys, Schedules and Realtime pages over HTTP with a signed-in session, and the seed helpers that
 * `pnpm start` calls (seedDemoUser, seedDemoScenario).
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sampleCsv } from "@runfeed/example-tasks";
import { seedDemo, seedDemoScenario, seedDemoUser } from "../../app/services/seed.server.js";
import { createWorker } from "../../app/worker/createWorker.server.js";
import { upsertSchedule } from "../../app/engine/schedules.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { postForm, signIn } from "./support.js";

describe("dashboard pages", () => {
  let app: TestWebapp;
  let cookie: string;
  const base = "/orgs/test-org/projects/test-project/env/dev";

  beforeAll(async () => {
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9" });
    await seedDemoUser(app.webapp.services.prisma, {
      organizationIds: [app.project.organizationId],
      email: "keys@runfeed.dev",
      password: "pw-keys-123",
    });
    cookie = await signIn(app.url, "keys@runfeed.dev", "pw-keys-123");
  });
  afterAll(() => app.close());

  // Remix single fetch: a form POST to `<path>.data` answers with turbo-stream; a document POST renders HTML.
  const post = (path: string, form: Record<string, string | string[]>) => postForm(app.url, path, form, { cookie });

  it("creates an additional key that is shown once and stored only as its SHA-256, then revokes it", async () => {
    const { prisma } = app.webapp.services;
    const response = await post(`${base}/apikeys`, {
      intent: "create",
      name: "CI",
      scopes: ["trigger:tasks", "read:runs"],
    });
    expect(response.status).toBe(200);
    const html = await response.text();
    const key = /tr_dev_sk_[0-9a-zA-Z]{24}/.exec(html)?.[0];
    expect(key).toBeDefined();
    const stored = await prisma.apiKey.findFirstOrThrow({ where: { name: "CI" } });
    expect(stored.keyHash).toBe(createHash("sha256").update(key!).digest("hex"));
    expect(stored.scopes).toEqual(["trigger:tasks", "read:runs"]);
    expect(JSON.stringify(stored)).not.toContain(key);

    // The key works with its scopes, and is never shown again.
    const trigger = () =>
      fetch(`${app.url}/api/v1/tasks/hello-world/trigger`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify({ payload: {} }),
      });
    expect((await trigger()).status).toBe(200);
    const page = await (await fetch(`${app.url}${base}/apikeys`, { headers: { cookie } })).text();
    expect(page).not.toContain(key);
    expect(page).toContain(stored.keyPrefix);

    expect((await post(`${base}/apikeys`, { intent: "revoke", id: stored.id })).status).toBe(200);
    expect((await prisma.apiKey.findUniqueOrThrow({ where: { id: stored.id } })).revokedAt).toBeInstanceOf(Date);
    expect((await trigger()).status).toBe(401);
  });

  it("deactivates, activates and deletes a schedule from the Schedules page", async () => {
    const { prisma } = app.webapp.services;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    const schedule = await upsertSchedule(
      prisma,
      { id: dev.id, projectId: app.project.projectId },
      {
        task: "hello-world",
        cron: "0 12 * * *",
        deduplicationKey: "dashboard-actions",
      },
    );
    const page = async () => (await fetch(`${app.url}${base}/schedules`, { headers: { cookie } })).text();
    expect(await page()).toContain(schedule.friendlyId);

    expect((await post(`${base}/schedules`, { intent: "deactivate", id: schedule.friendlyId })).status).toBe(200);
    expect((await prisma.taskSchedule.findUniqueOrThrow({ where: { id: schedule.id } })).active).toBe(false);
    expect(await page()).toContain(">Activate<");
    expect((await post(`${base}/schedules`, { intent: "activate", id: schedule.friendlyId })).status).toBe(200);
    expect((await prisma.taskSchedule.findUniqueOrThrow({ where: { id: schedule.id } })).active).toBe(true);

    expect((await post(`${base}/schedules`, { intent: "delete", id: "sched_nope" })).status).toBe(404);
    expect((await post(`${base}/schedules`, { intent: "delete", id: schedule.friendlyId })).status).toBe(200);
    expect(await prisma.taskSchedule.count({ where: { id: schedule.id } })).toBe(0);
    expect(await page()).not.toContain(schedule.friendlyId);
  });

  it("rejects an invalid scope", async () => {
    const response = await post(`${base}/apikeys`, { intent: "create", name: "Bad", customScopes: "nonsense" });
    expect(response.status).toBe(400);
  });

  it("rolls the root key only when confirmed", async () => {
    const { prisma } = app.webapp.services;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    expect((await post(`${base}/apikeys`, { intent: "roll-root", confirm: "nope" })).status).toBe(400);
    expect((await prisma.runtimeEnvironment.findUniqueOrThrow({ where: { id: dev.id } })).apiKey).toBe(dev.apiKey);
    expect((await post(`${base}/apikeys`, { intent: "roll-root", confirm: "dev" })).status).toBe(200);
    const rolled = (await prisma.runtimeEnvironment.findUniqueOrThrow({ where: { id: dev.id } })).apiKey;
    expect(rolled).not.toBe(dev.apiKey);
    expect(rolled).toMatch(/^tr_dev_[0-9a-zA-Z]{24}$/);
    const old = await fetch(`${app.url}/api/v1/tasks/x/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${dev.apiKey}`, "content-type": "application/json" },
      body: "{}",
    });
    expect(old.status).toBe(401);
  });

  it("shows live requests against the limit and an unreachable shape server", async () => {
    const response = await fetch(`${app.url}${base}/realtime`, { headers: { cookie } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain("0 / 100,000");
    expect(html).toContain("unreachable");
  });

  it("serves the write pipeline's live state to signed-in users only", async () => {
    const path = `${app.url}/resources${base}/write-pipeline`;
    const anonymous = await fetch(path, { redirect: "manual" });
    expect(anonymous.status).not.toBe(200);
    const metadata = { items: [{ runId: "run_nobody", operations: [{ type: "increment", key: "n", value: 1 }] }] };
    // prod's key: an earlier test rolls dev's.
    const prod = app.project.environments.find((e) => e.slug === "prod")!;
    const accepted = await fetch(`${app.url}/api/v1/metadata/batch`, {
      method: "POST",
      headers: { authorization: `Bearer ${prod.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify(metadata),
    });
    expect(accepted.status).toBe(202);
    const response = await fetch(path, { headers: { cookie } });
    expect(response.status).toBe(200);
    const snapshot = await response.json();
    expect(snapshot.streams).toHaveLength(2 * app.webapp.services.env.WRITE_PIPELINE_PARTITIONS);
    expect(Object.keys(snapshot.classes).sort()).toEqual(["high", "low"]);
    expect(snapshot.classes.high).toMatchObject({ depth: expect.any(Number), appliedPerSecond: expect.any(Number) });
    await expect
      .poll(
        async () => {
          const next = await (await fetch(path, { headers: { cookie } })).json();
          return next.classes.high.acceptedPerSecond;
        },
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
  });

  it("seeds the demo user and a CSV import whose progress climbs", async () => {
    const { prisma, logger } = app.webapp.services;
    await seedDemo(prisma);
    const user = await seedDemoUser(prisma);
    expect(user.email).toBe("demo@runfeed.dev");
    await signIn(app.url, user.email, user.password);
    const worker = createWorker({ ...app.webapp.services });
    try {
      const scenario = await seedDemoScenario(
        { prisma, worker },
        { taskId: "csv-import", payload: { filename: "demo.csv", csv: sampleCsv(120), batchSize: 40, rowDelayMs: 5 } },
      );
      worker.start();
      await vi.waitFor(
        async () => {
          const run = await prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: scenario.runId } });
          expect(run.status).toBe("COMPLETED_SUCCESSFULLY");
          expect(JSON.parse(run.metadata!)).toMatchObject({ processed: 120, total: 120 });
        },
        { timeout: 30_000, interval: 200 },
      );
    } finally {
      await worker.stop();
    }
  }, 45_000);
});
