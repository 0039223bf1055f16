/**
 * The dashboard's live table outlives its token: with realtime tokens that expire after a few
 * seconds (DASHBOARD_REALTIME_TOKEN_TTL_SECONDS), the server ends the table's event stream at the
 * token's expiry, the reconnect is refused (401), the page asks
 * the realtime-token route for a fresh token (`onTokenRefused` of @runfeed/react-hooks) and the feed
 * resumes with the refused request's handle and offset — no resync — and keeps updating the table
 * live. Chromium against the real stack (production build, worker, shape-sync, Postgres, Redis).
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BrowserProblems, launchChromium, startDashboard, type DashboardFixture } from "./support.js";

interface FeedRequest {
  url: URL;
  status: number;
}

describe("dashboard live table across token expiry", () => {
  let fixture: DashboardFixture;
  let browser: Browser;
  const watcher = new BrowserProblems();

  beforeAll(async () => {
    // 8 s: long enough for the page to connect on a busy machine, far shorter than the shape server's
    // own 60 s stream timeout, so the stream is ended at the token's expiry and its reconnect refused.
    [fixture, browser] = await Promise.all([
      startDashboard({ worker: true, env: { DASHBOARD_REALTIME_TOKEN_TTL_SECONDS: "8" } }),
      launchChromium(),
    ]);
  }, 90_000);
  afterEach(() => {
    expect(watcher.take(), "browser problems").toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await fixture?.close();
  });

  async function signIn(page: Page) {
    await page.goto(`${fixture.app.url}/login`);
    await page.fill('input[name="email"]', fixture.user.email);
    await page.fill('input[name="password"]', fixture.user.password);
    await page.click('button[type="submit"]');
    await page.waitForURL(/\/env\/dev\/runs$/);
  }

  it("renews the refused token, resumes from the same offset and keeps the table live", {
    timeout: 120_000,
  }, async () => {
    // Each refused feed request is logged by the browser as a failed resource load.
    watcher.expect(/ 401 .*\/realtime\/v1\/runs\?/);
    watcher.expect(/console\.error: Failed to load resource: .*status of 401/);
    const page = await watcher.newPage(browser);
    await signIn(page);
    await page.waitForSelector('[data-live-state="live"]', { timeout: 30_000 });

    const feed: FeedRequest[] = [];
    const renewals: number[] = [];
    page.on("response", (response) => {
      const url = new URL(response.url());
      if (url.pathname === "/realtime/v1/runs") feed.push({ url, status: response.status() });
      if (url.pathname.endsWith("/realtime-token") && response.ok()) renewals.push(feed.length);
    });

    // The token expires while the stream is open; the reconnect is refused and the token renewed.
    const refused = await page.waitForResponse(
      (r) => new URL(r.url()).pathname === "/realtime/v1/runs" && r.status() === 401,
      { timeout: 45_000 },
    );
    const refusedUrl = new URL(refused.url());
    const resumed = await page.waitForResponse(
      (r) => new URL(r.url()).pathname === "/realtime/v1/runs" && r.status() === 200,
      { timeout: 45_000 },
    );
    const resumedUrl = new URL(resumed.url());
    expect(renewals.length).toBeGreaterThan(0);
    expect(await resumed.request().headerValue("authorization")).not.toBe(
      await refused.request().headerValue("authorization"),
    );
    for (const param of ["handle", "offset"])
      expect(resumedUrl.searchParams.get(param), param).toBe(refusedUrl.searchParams.get(param));
    expect(resumedUrl.searchParams.get("offset")).not.toBe("-1");
    // The table follows over server-sent events (the hooks' default): the refused request was the
    // reconnect of a stream the server ended at the token's expiry, and the resumed one is a stream too.
    expect(refusedUrl.searchParams.get("live_sse")).toBe("true");
    expect(resumedUrl.searchParams.get("live_sse")).toBe("true");

    // A run triggered now appears and completes in the table without a reload.
    const dev = fixture.app.project.environments.find((e) => e.slug === "dev")!;
    const response = await fetch(`${fixture.app.url}/api/v1/tasks/hello-world/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${dev.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: { name: "after-expiry", delayMs: 500 } }),
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    await page.waitForSelector(`tr[data-run-id="${id}"][data-status="COMPLETED"]`, { timeout: 45_000 });
    await page.waitForSelector('[data-live-state="live"]');

    // No resync: only the page's first request started from the beginning of the shape.
    expect(feed.every((r) => r.url.searchParams.get("offset") !== "-1")).toBe(true);
    expect(feed.filter((r) => r.status === 401).length).toBeGreaterThan(0);
    await page.close();
  });
});
