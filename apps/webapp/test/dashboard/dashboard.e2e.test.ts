/**
 * The dashboard in Chromium against the real stack (the webapp's production build + worker,
 * shape-sync over logical replication, Postgres, Redis): sign in, trigger the CSV import from the
 * runs page, and watch the row appear and its status and progress change without a reload. No test
 * leaves a console error, a page error or a failed request behind. Screenshots go to test-results/.
 *
 * Once on each realtime backend (docs/decisions/073-realtime-notifier-backend.md): the native pass has
 * no shape server at all (ELECTRIC_ORIGIN points at nothing), its Realtime page shows the shape server
 * down while the live table keeps updating. The tests that need the shape server (a run's log feed)
 * are defined for the electric backend only.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { ARTIFACTS_DIR, BrowserProblems, launchChromium, startDashboard, type DashboardFixture } from "./support.js";

declare global {
  interface Window {
    __marker?: string;
    __seen?: Record<string, { statuses: string[]; progress: string[] }>;
  }
}

describe.each(["electric", "native"] as const)("dashboard in a browser (%s backend)", (backend) => {
  let fixture: DashboardFixture;
  let browser: Browser;
  let page: Page;
  /** Printed when a test fails. */
  const debugLog: string[] = [];
  /** Console errors, page errors and CSP violations of every page; each test must leave none. */
  const watcher = new BrowserProblems();
  const newPage = (options?: Parameters<Browser["newPage"]>[0]) => watcher.newPage(browser, options);
  beforeAll(async () => {
    [fixture, browser] = await Promise.all([startDashboard({ worker: true, backend }), launchChromium()]);
    await mkdir(ARTIFACTS_DIR, { recursive: true });
    page = await newPage({ viewport: { width: 1360, height: 860 } });
  }, 90_000);
  afterEach(async (context) => {
    if (context.task.result?.state !== "fail") debugLog.length = 0;
    if (context.task.result?.state === "fail" && page) {
      const name = context.task.name.replace(/\W+/g, "-");
      await page
        .screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, `failed-${name}.png`), fullPage: true })
        .catch(() => {});
      console.error(`failed at ${page.url()}:`, (await page.textContent("main").catch(() => ""))?.slice(0, 500));
      console.error(debugLog.join("\n"));
    }
    // Every page the test opened: no console error or warning, no uncaught exception, no CSP violation,
    // no failed request.
    expect(watcher.take(), "browser problems").toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await fixture?.close();
  });

  it("signs in, triggers the CSV import and follows it live", { timeout: 90_000 }, async () => {
    const { app, user } = fixture;
    await page.goto(`${app.url}/`);
    await page.waitForURL(/\/login/);
    // caret "initial": Playwright hides the caret by writing a style attribute on every input and
    // leaves `style=""` behind; before hydration React then warns of an attribute the server never sent.
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "login.png") });
    await page.fill('input[name="email"]', user.email);
    await page.fill('input[name="password"]', user.password);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/orgs\/test-org\/projects\/test-project\/env\/dev\/runs$/);

    // Empty environment: the quick-start shows a curl line with this environment's secret key.
    const devKey = app.project.environments.find((e) => e.slug === "dev")!.apiKey;
    await expect.poll(() => page.textContent('[data-testid="quickstart-curl"]')).toContain(devKey);
    await page.waitForSelector('[data-live-state="live"]', { timeout: 20_000 });
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "runs-empty.png") });

    // Watch the table from inside the page: every status and progress label each row shows.
    await page.evaluate(() => {
      window.__marker = "same-document";
      window.__seen = {};
      const record = () => {
        for (const row of document.querySelectorAll<HTMLTableRowElement>("tr[data-run-id]")) {
          const seen = (window.__seen![row.dataset.runId!] ??= { statuses: [], progress: [] });
          const status = row.dataset.status!;
          if (seen.statuses.at(-1) !== status) seen.statuses.push(status);
          const progress = row.querySelector(".progress-label")?.textContent;
          if (progress && seen.progress.at(-1) !== progress) seen.progress.push(progress);
        }
      };
      new MutationObserver(record).observe(document.body, {
        subtree: true,
        childList: true,
        attributes: true,
        characterData: true,
      });
    });
    // Documents and GETs of the runs list's loader (a `.data` GET without `_routes` means every route).
    const listReloads: string[] = [];
    page.on("request", (request) => {
      const url = new URL(request.url());
      const listLoader =
        url.pathname.endsWith(".data") &&
        request.method() === "GET" &&
        (!url.searchParams.has("_routes") || url.searchParams.get("_routes")!.includes("runs._index"));
      if (request.resourceType() === "document" || listLoader) listReloads.push(`${request.method()} ${request.url()}`);
    });

    await page.click('button:has-text("Import sample CSV")');
    const notice = await page.waitForSelector('[role="status"] a.mono');
    const runId = (await notice.textContent())!.trim();
    expect(runId).toMatch(/^run_/);

    // The row arrives through the realtime feed, then climbs.
    const row = `tr[data-run-id="${runId}"]`;
    await page.waitForSelector(row, { timeout: 15_000 });
    await vi.waitFor(
      async () => {
        const label = await page.textContent(`${row} .progress-label`);
        const [done, total] = (label ?? "0/0").split("/").map(Number);
        expect(total).toBe(300);
        expect(done).toBeGreaterThan(0);
        expect(done).toBeLessThan(300);
      },
      { timeout: 20_000, interval: 50 },
    );
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "runs-page.png"), fullPage: true });
    await page.waitForSelector(`${row}[data-status="COMPLETED"]`, { timeout: 45_000 });

    const seen = (await page.evaluate(() => window.__seen))![runId]!;
    expect(seen.statuses).toContain("EXECUTING");
    expect(seen.statuses.at(-1)).toBe("COMPLETED");
    expect(seen.progress.length).toBeGreaterThanOrEqual(3);
    expect(seen.progress.at(-1)).toBe("300/300");
    // Child runs appeared live too (12 batches of 25 rows).
    expect(await page.locator('tr[data-run-id] .task-name:text-is("csv-import-batch")').count()).toBe(12);
    // No reload and no loader refetch: everything came over the live feed.
    expect(await page.evaluate(() => window.__marker)).toBe("same-document");
    expect(listReloads).toEqual([]);

    // Run page: final state, output, metadata progress bar, children.
    await page.click(`${row} a.run-link`);
    await page.waitForURL(new RegExp(`/runs/${runId}$`));
    await page.waitForSelector('.run-summary[data-status="COMPLETED"]');
    await page.waitForSelector('[data-live-state="live"]');
    expect(await page.textContent(".summary-progress")).toContain("300 / 300 (100%)");
    expect(await page.textContent("main")).toContain('"processed": 300');
    expect(await page.locator("tr[data-run-id]").count()).toBe(12);
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "run-page.png"), fullPage: true });

    // Phone width.
    const phone = await newPage({ viewport: { width: 390, height: 844 } });
    await phone.context().addCookies(await page.context().cookies());
    await phone.goto(page.url().replace(/\/runs\/.*$/, "/runs"));
    await phone.waitForSelector(row);
    await phone.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "runs-page-phone.png") });
    await phone.close();
  });

  it("imports an uploaded CSV file", { timeout: 60_000 }, async () => {
    const { app } = fixture;
    await page.goto(`${app.url}/orgs/test-org/projects/test-project/env/dev/runs`);
    await page.waitForSelector('[data-live-state="live"]');
    const csv = ["id,email", ...Array.from({ length: 50 }, (_, i) => `${i},user${i}@example.com`)].join("\n");
    await page.setInputFiles('input[name="file"]', {
      name: "tiny.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(csv),
    });
    const notice = await page.waitForSelector('[role="status"]:has-text("tiny.csv") a.mono');
    const runId = (await notice.textContent())!.trim();
    await page.waitForSelector(`tr[data-run-id="${runId}"][data-status="COMPLETED"]`, { timeout: 30_000 });
    expect(await page.textContent(`tr[data-run-id="${runId}"] .progress-label`)).toBe("50/50");
  });

  // Its log lines come over the log feed (on the native pass, the native log feed: 090, 073).
  it("shows a run page that follows the run live", { timeout: 60_000 }, async () => {
    const { app } = fixture;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    const response = await fetch(`${app.url}/api/v1/tasks/hello-world/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${dev.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: { name: "e2e", delayMs: 1500 }, options: { tags: ["e2e"] } }),
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    await page.goto(`${app.url}/orgs/test-org/projects/test-project/env/dev/runs/${id}`);
    await page.waitForSelector('[data-live-state="live"]');
    await page.evaluate(() => (window.__marker = "run-page"));
    // The run's log lines arrive while the page stays open: the first while it waits, then the greeting.
    const logs = page.getByTestId("run-logs");
    await page.waitForSelector('[data-testid="run-logs"] .log-line:has-text("Waiting before greeting")', {
      timeout: 20_000,
    });
    await page.waitForSelector('.run-summary[data-status="COMPLETED"]', { timeout: 20_000 });
    expect(await page.textContent("main")).toContain("Hello, e2e!");
    await page.waitForSelector('[data-testid="run-logs"][data-lines="2"]', { timeout: 20_000 });
    expect(await logs.locator(".log-message").allTextContents()).toEqual(["Waiting before greeting", "Hello, e2e!"]);
    expect(await logs.locator(".log-attributes").first().textContent()).toBe('{"delayMs":1500}');
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "run-logs.png"), fullPage: true });
    expect(await page.evaluate(() => window.__marker)).toBe("run-page");
  });

  it("shows a run's realtime streams live: text accumulating, JSON parts for objects", {
    timeout: 60_000,
  }, async () => {
    const { app } = fixture;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    const errors: string[] = [];
    const onConsole = (message: { type(): string; text(): string }) => {
      // Vite's dev-server HMR socket (tests serve the app through Vite, with HMR off) is not ours.
      const ignored = /websocket|\[vite\]/i;
      if (message.type() === "error" && !ignored.test(message.text())) errors.push(message.text());
    };
    page.on("console", onConsole);
    try {
      const response = await fetch(`${app.url}/api/v1/tasks/llm-demo/trigger`, {
        method: "POST",
        headers: { authorization: `Bearer ${dev.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ payload: { prompt: "dashboard", tokensPerSecond: 100, seconds: 3 } }),
      });
      expect(response.status).toBe(200);
      const { id } = (await response.json()) as { id: string };
      await page.goto(`${app.url}/orgs/test-org/projects/test-project/env/dev/runs/${id}`);
      await page.waitForSelector('[data-live-state="live"]');
      // The stream appears on the page (the run row lists it) and grows while the run executes.
      const text = page.getByTestId("stream-text-llm");
      await text.waitFor({ timeout: 20_000 });
      const lengths = new Set<number>();
      await vi.waitFor(
        async () => {
          lengths.add(((await text.textContent()) ?? "").length);
          expect(await page.getAttribute(".run-summary", "data-status")).toBe("COMPLETED");
        },
        { timeout: 30_000, interval: 100 },
      );
      expect(lengths.size).toBeGreaterThan(3);
      await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "run-streams.png"), fullPage: true });
      const run = await app.webapp.services.prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: id } });
      const output = JSON.parse(run.output!) as { text: string; sentences: number };
      await vi.waitFor(async () => expect(((await text.textContent()) ?? "").trim()).toBe(output.text), {
        timeout: 15_000,
        interval: 100,
      });
      const parts = page.getByTestId("stream-parts-sentences").locator("li");
      await vi.waitFor(async () => expect(await parts.count()).toBe(output.sentences), {
        timeout: 15_000,
        interval: 100,
      });
      expect(JSON.parse((await parts.first().textContent()) ?? "")).toMatchObject({ index: 1 });
      expect(errors).toEqual([]);
    } finally {
      page.off("console", onConsole);
    }
  });

  it("re-subscribes when the tag filter changes and filters live rows by status", { timeout: 60_000 }, async () => {
    const { app } = fixture;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    const trigger = async (tags: string[], payload: object) => {
      const response = await fetch(`${app.url}/api/v1/tasks/hello-world/trigger`, {
        method: "POST",
        headers: { authorization: `Bearer ${dev.apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ payload, options: { tags } }),
      });
      return ((await response.json()) as { id: string }).id;
    };
    await page.goto(`${app.url}/orgs/test-org/projects/test-project/env/dev/runs`);
    await page.waitForSelector('[data-live-state="live"]');
    const feeds: string[] = [];
    page.on("request", (request) => {
      if (request.url().includes("/realtime/v1/runs?"))
        feeds.push(new URL(request.url()).searchParams.get("tags") ?? "");
    });
    await page.fill('input[name="tag"]', "customer:42");
    await page.press('input[name="tag"]', "Enter");
    await page.waitForURL(/tag=customer%3A42/);
    await page.waitForSelector('[data-live-state="live"]');
    expect(feeds).toContain("customer:42");

    const tagged = await trigger(["customer:42"], { name: "tagged", delayMs: 300 });
    const untagged = await trigger(["customer:7"], { name: "other", delayMs: 300 });
    await page.waitForSelector(`tr[data-run-id="${tagged}"][data-status="COMPLETED"]`, { timeout: 20_000 });
    expect(await page.locator(`tr[data-run-id="${untagged}"]`).count()).toBe(0);

    // Status is filtered on the live rows: a failing run shows up under "Failed" once it fails.
    await page.selectOption('select[name="status"]', "FAILED");
    await page.waitForURL(/status=FAILED/);
    await page.waitForSelector('[data-live-state="live"]');
    const failing = await trigger(["customer:42"], { fail: true, delayMs: 300 });
    await page.waitForSelector(`tr[data-run-id="${failing}"][data-status="FAILED"]`, { timeout: 20_000 });
    expect(await page.locator(`tr[data-run-id="${tagged}"]`).count()).toBe(0);
  });

  it("keeps the table live across a roll of the secret key (the refused token is replaced)", {
    timeout: 60_000,
  }, async () => {
    const { app } = fixture;
    // The live feed's token is refused once the key is rolled (the browser logs the 401), then replaced.
    watcher.expect(/ 401 .*\/realtime\/v1\/runs\?/);
    watcher.expect(/console\.error: Failed to load resource: .*status of 401/);
    const base = `${app.url}/orgs/test-org/projects/test-project/env/dev`;
    const runs = await newPage();
    await runs.context().addCookies(await page.context().cookies());
    await runs.goto(`${base}/runs`);
    await runs.waitForSelector('[data-live-state="live"]');
    const tokenRefreshes: string[] = [];
    runs.on("request", (request) => {
      if (request.url().includes("/realtime-token")) tokenRefreshes.push(request.url());
    });
    runs.on("response", (r) => {
      if (r.url().includes("realtime"))
        debugLog.push(
          `${new Date().toISOString()} ${r.status()} ${r.url().replace(/^.*\/(realtime|resources)/, "$1")}`,
        );
    });

    await page.goto(`${base}/apikeys`);
    await page.click("summary");
    await page.fill('input[name="confirm"]', "dev");
    await page.click('button:has-text("Roll key")');
    await page.waitForSelector("text=Rolled.");
    await page.click('button:has-text("Show")');
    const newKey = (await page.textContent('[data-testid="root-key"]'))!.trim();
    expect(newKey).not.toBe(app.project.environments.find((e) => e.slug === "dev")!.apiKey);

    const response = await fetch(`${app.url}/api/v1/tasks/hello-world/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${newKey}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: { name: "after-roll", delayMs: 100 } }),
    });
    const { id } = (await response.json()) as { id: string };
    await runs.waitForSelector(`tr[data-run-id="${id}"][data-status="COMPLETED"]`, { timeout: 30_000 });
    expect(tokenRefreshes.length).toBeGreaterThan(0);
    await runs.close();
  });

  it("shows the API keys and Realtime pages", { timeout: 60_000 }, async () => {
    const { app } = fixture;
    const base = `${app.url}/orgs/test-org/projects/test-project/env/dev`;
    await page.goto(`${base}/apikeys`);
    await page.fill('input[name="name"]', "Deploys");
    await page.click('button:has-text("Create key")');
    const key = await page.waitForSelector('[data-testid="new-key"]');
    expect(await key.textContent()).toMatch(/^tr_dev_sk_[0-9a-zA-Z]{24}$/);
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "api-keys-page.png"), fullPage: true });

    // Realtime: the runs page's live request holds a slot while it is open.
    const runs = await newPage();
    await runs.context().addCookies(await page.context().cookies());
    await runs.goto(`${base}/runs`);
    await runs.waitForSelector('[data-live-state="live"]');
    await page.goto(`${base}/realtime`);
    await expect
      .poll(async () => (await page.textContent('[data-testid="usage-dev"]'))?.trim(), { timeout: 15_000 })
      .toMatch(/^[1-9]\d* \/ 100,000$/);
    if (backend === "electric") expect(await page.textContent(".health")).toBe("active");
    else {
      // No shape server: the page says so, and the runs page's table is still live (native feeds).
      expect(await page.textContent('[data-testid="realtime-backend"]')).toBe("native");
      expect(await page.textContent(".health")).not.toBe("active");
      expect(await page.getAttribute(".health", "class")).toContain("health-bad");
      const dev = app.project.environments.find((e) => e.slug === "dev")!;
      const { apiKey } = await app.webapp.services.prisma.runtimeEnvironment.findUniqueOrThrow({
        where: { id: dev.id },
      });
      const response = await fetch(`${app.url}/api/v1/tasks/hello-world/trigger`, {
        method: "POST",
        headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
        body: JSON.stringify({ payload: { name: "no-shape-server", delayMs: 100 } }),
      });
      const { id } = (await response.json()) as { id: string };
      await runs.waitForSelector(`tr[data-run-id="${id}"][data-status="COMPLETED"]`, { timeout: 30_000 });
    }
    // The write-pipeline panel loads its live state.
    await page.waitForSelector('[data-testid="pipeline-depth-high"]');
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "realtime-page.png"), fullPage: true });
    await runs.close();
  });
  it("cancels a run from its page, and signs out everywhere from the account page", { timeout: 60_000 }, async () => {
    const { app } = fixture;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    // The key as it is now (an earlier test rolled it).
    const { apiKey } = await app.webapp.services.prisma.runtimeEnvironment.findUniqueOrThrow({ where: { id: dev.id } });
    const response = await fetch(`${app.url}/api/v1/tasks/hello-world/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: { name: "to-cancel", delayMs: 10_000 } }),
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    await page.goto(`${app.url}/orgs/test-org/projects/test-project/env/dev/runs/${id}`);
    await page.waitForSelector('[data-live-state="live"]');
    await page.click('button:has-text("Cancel run")');
    await page.waitForSelector('.run-summary[data-status="CANCELED"]', { timeout: 20_000 });
    expect(await page.locator('button:has-text("Cancel run")').count()).toBe(0);

    // A second browser signed in as the same user.
    const other = await newPage();
    await other.context().addCookies(await page.context().cookies());
    await other.goto(`${app.url}/orgs/test-org/projects/test-project/env/dev/apikeys`);
    await other.waitForSelector('[data-testid="audit-log"] tr[data-action="sign-in"]');

    await page.click('a[href="/account"]');
    await page.waitForURL(/\/account$/);
    await page.waitForSelector('[data-testid="sessions"]');
    expect(await page.textContent('[data-testid="sessions"]')).toContain("this browser");
    await page.screenshot({ caret: "initial", path: path.join(ARTIFACTS_DIR, "account-page.png"), fullPage: true });
    await page.click('button:has-text("Sign out everywhere")');
    await page.waitForURL(/\/login$/);

    // The other browser's cookie opens nothing any more.
    await other.reload();
    await other.waitForURL(/\/login\?redirectTo=/);
    await other.close();
  });
});
