/**
 * The schedule API through the unmodified @trigger.dev/sdk 4.8.3 `schedules.*`: create, retrieve,
 * update, deactivate, activate and delete, each checked against the schedule's row and its pending
 * timer (docs/decisions/093-run-lifecycle-timers.md), plus the 4xx answers for bad input.
 */
import { configure, schedules } from "@trigger.dev/sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";

let app: TestWebapp;
const prisma = () => app.webapp.services.prisma;
let apiKey: string;

/** The run_at of the schedule's pending timer, or null when it has none. */
async function pendingTick(friendlyId: string): Promise<Date | null> {
  const schedule = await prisma().taskSchedule.findFirstOrThrow({ where: { friendlyId } });
  const [job] = await prisma().$queryRaw<Array<{ run_at: Date }>>`
    SELECT run_at FROM graphile_worker.jobs WHERE key = ${`schedule:${schedule.id}`}`;
  return job?.run_at ?? null;
}

beforeAll(async () => {
  app = await startTestWebapp();
  apiKey = app.project.environments.find((e) => e.slug === "prod")!.apiKey;
  configure({ baseURL: app.url, accessToken: apiKey });
}, 120_000);

afterAll(async () => {
  await app?.close();
});

describe("schedule API through the official SDK", () => {
  it("retrieve, update, deactivate, activate and delete a schedule", async () => {
    const created = await schedules.create({
      task: "hello-world",
      cron: "0 9 * * *",
      timezone: "Europe/Paris",
      deduplicationKey: "api-lifecycle",
      externalId: "user-1",
    });
    expect(await pendingTick(created.id)).toEqual(new Date(created.nextRun!));

    const retrieved = await schedules.retrieve(created.id);
    expect(retrieved).toMatchObject({
      id: created.id,
      task: "hello-world",
      active: true,
      externalId: "user-1",
      timezone: "Europe/Paris",
      generator: { type: "CRON", expression: "0 9 * * *" },
    });

    const updated = await schedules.update(created.id, {
      task: "hello-world",
      cron: "*/5 * * * *",
      timezone: "UTC",
      externalId: "user-2",
    });
    expect(updated).toMatchObject({ id: created.id, externalId: "user-2", timezone: "UTC", active: true });
    expect(updated.generator.expression).toBe("*/5 * * * *");
    expect(new Date(updated.nextRun!).getUTCMinutes() % 5).toBe(0);
    expect(await pendingTick(created.id)).toEqual(new Date(updated.nextRun!));

    const deactivated = await schedules.deactivate(created.id);
    expect(deactivated).toMatchObject({ id: created.id, active: false });
    expect(deactivated.nextRun ?? null).toBeNull();
    expect(await pendingTick(created.id)).toBeNull();

    const activated = await schedules.activate(created.id);
    expect(activated.active).toBe(true);
    expect(await pendingTick(created.id)).toEqual(new Date(activated.nextRun!));

    expect(await schedules.del(created.id)).toEqual({ id: created.id });
    expect(await prisma().taskSchedule.count({ where: { friendlyId: created.id } })).toBe(0);
    expect((await schedules.list()).data.map((s) => s.id)).not.toContain(created.id);
    await expect(schedules.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  it("answers 404 for a schedule of another environment and 400 for a bad update", async () => {
    const created = await schedules.create({ task: "hello-world", cron: "0 * * * *", deduplicationKey: "api-errors" });
    const staging = app.project.environments.find((e) => e.slug === "staging")!;
    const fromStaging = await fetch(`${app.url}/api/v1/schedules/${created.id}`, {
      headers: { authorization: `Bearer ${staging.apiKey}` },
    });
    expect(fromStaging.status).toBe(404);

    const put = (body: unknown) =>
      fetch(`${app.url}/api/v1/schedules/${created.id}`, {
        method: "PUT",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const badCron = await put({ task: "hello-world", cron: "not a cron" });
    expect(badCron.status).toBe(400);
    expect(JSON.stringify(await badCron.json())).toContain("cron");
    const badZone = await put({ task: "hello-world", cron: "0 * * * *", timezone: "Mars/Olympus" });
    expect(badZone.status).toBe(400);
    expect(JSON.stringify(await badZone.json())).toContain("timezone");
    const missingTask = await put({ cron: "0 * * * *" });
    expect(missingTask.status).toBe(400);
    expect(JSON.stringify(await missingTask.json())).toContain("task");
    // Nothing changed.
    expect((await schedules.retrieve(created.id)).generator.expression).toBe("0 * * * *");
  });
});
