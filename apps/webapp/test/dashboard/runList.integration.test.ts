/** The runs page loader: filters and keyset pagination over history (server-rendered HTML). */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { listRuns } from "../../app/services/dashboardRuns.server.js";
import { parseRunFilters } from "../../app/components/runs/filters.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { signIn } from "./support.js";

describe("runs list", () => {
  let app: TestWebapp;
  let cookie: string;
  let devId: string;
  const ids: string[] = [];

  beforeAll(async () => {
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9" });
    const { prisma } = app.webapp.services;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    devId = dev.id;
    const base = Date.now() - 60_000;
    for (let i = 0; i < 30; i++) {
      const run = await prisma.taskRun.create({
        data: {
          friendlyId: `run_list${String(i).padStart(21, "0")}`,
          taskIdentifier: i % 2 ? "odd-task" : "even-task",
          runtimeEnvironmentId: dev.id,
          projectId: app.project.projectId,
          status: i % 3 === 0 ? "COMPLETED_WITH_ERRORS" : "COMPLETED_SUCCESSFULLY",
          createdAt: new Date(base + i * 1000),
          payload: "{}",
          runTags: i % 5 === 0 ? ["five"] : [],
        },
      });
      ids.push(run.friendlyId);
    }
    // An old run outside the default 7-day window.
    await prisma.taskRun.create({
      data: {
        friendlyId: "run_ancient",
        taskIdentifier: "even-task",
        runtimeEnvironmentId: dev.id,
        projectId: app.project.projectId,
        createdAt: new Date(Date.now() - 10 * 86_400_000),
        payload: "{}",
      },
    });
    await seedDemoUser(prisma, {
      organizationIds: [app.project.organizationId],
      email: "list@runfeed.dev",
      password: "pw-list-123",
    });
    cookie = await signIn(app.url, "list@runfeed.dev", "pw-list-123");
  });
  afterAll(() => app.close());

  const list = (query: string) =>
    listRuns(app.webapp.services.prisma, devId, parseRunFilters(new URL(`http://x/runs?${query}`)));

  it("pages through history newest first without gaps or repeats", async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(`limit=7${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...page.runs.map((run) => run.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual([...ids].reverse());
    expect((await list("range=all&limit=100")).runs.map((r) => r.id)).toContain("run_ancient");
  });

  it("filters by public status, task and tag", async () => {
    const failed = await list("status=FAILED&limit=100");
    expect(failed.runs.map((r) => r.id)).toEqual(ids.filter((_, i) => i % 3 === 0).reverse());
    const odd = await list("task=odd-task&limit=100");
    expect(odd.runs.every((r) => r.taskIdentifier === "odd-task")).toBe(true);
    expect(odd.runs).toHaveLength(15);
    const five = await list("tag=five&limit=100");
    expect(five.runs.map((r) => r.id)).toEqual(ids.filter((_, i) => i % 5 === 0).reverse());
    expect(five.tasks).toEqual(["even-task", "odd-task"]);
  });

  it("renders the first page and links to the next one", async () => {
    const html = await (
      await fetch(`${app.url}/orgs/test-org/projects/test-project/env/dev/runs?limit=10`, { headers: { cookie } })
    ).text();
    expect(html).toContain(ids[29]);
    expect(html).toContain(ids[20]);
    expect(html).not.toContain(ids[19]);
    expect(html).toMatch(/href="[^"]*\/runs\?limit=10&amp;cursor=\d+_run_[a-z0-9]+"/);
    expect(html).not.toContain("Trigger your first run");
  });
});
