/**
 * The dashboard as production serves it (the built bundle, NODE_ENV=production) in Chromium: every
 * page works under the same CSP with no violation and no console error. The other browser tests run
 * the pages through Vite's dev server; the built bundle loads differently (hashed assets, module
 * preloads, its own inline bootstrap script), so it is checked here too.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { APP_ROOT } from "../../server/app.js";
import { BrowserProblems, launchChromium, startDashboard, type DashboardFixture } from "./support.js";

const ENV = "/orgs/test-org/projects/test-project/env/dev";

describe("the production build in a browser", () => {
  let fixture: DashboardFixture;
  let browser: Browser;
  let page: Page;
  const watcher = new BrowserProblems();

  beforeAll(async () => {
    // The same build `pnpm --filter @runfeed/webapp build` makes (apps/webapp/build, git-ignored).
    await promisify(execFile)("pnpm", ["run", "build"], { cwd: APP_ROOT });
    [fixture, browser] = await Promise.all([
      startDashboard({ worker: true, env: { NODE_ENV: "production" } }),
      launchChromium(),
    ]);
    page = await watcher.newPage(browser, { viewport: { width: 1360, height: 860 } });
  }, 240_000);
  afterEach(() => {
    expect(watcher.take(), "browser console errors, page errors and CSP violations").toEqual([]);
  });
  afterAll(async () => {
    await browser?.close();
    await fixture?.close();
  });

  it("serves the built bundle under the CSP", async () => {
    const response = await fetch(`${fixture.app.url}/login`);
    const html = await response.text();
    expect(html).toMatch(/<link rel="modulepreload" href="\/assets\/[^"]+\.js"/);
    expect(html).not.toContain("/@vite/client");
    const nonce = /'nonce-([^']+)'/.exec(response.headers.get("content-security-policy") ?? "")?.[1];
    expect(nonce).toBeDefined();
    for (const [, attributes] of html.matchAll(/<script\b([^>]*)>/g)) {
      if (!/\bsrc=/.test(attributes!)) expect(attributes).toContain(`nonce="${nonce}"`);
    }
  });

  it("signs in and uses every page with no CSP violation or console error", { timeout: 90_000 }, async () => {
    const { app, user } = fixture;
    await page.goto(`${app.url}/`);
    await page.waitForURL(/\/login/);
    await page.fill('input[name="email"]', user.email);
    await page.fill('input[name="password"]', user.password);
    await page.click('button[type="submit"]');
    await page.waitForURL(new RegExp(`${ENV}/runs$`));
    await page.waitForSelector('[data-live-state="live"]', { timeout: 20_000 });

    await page.click('button:has-text("Import sample CSV")');
    const runId = (await (await page.waitForSelector('[role="status"] a.mono')).textContent())!.trim();
    await page.waitForSelector(`tr[data-run-id="${runId}"] .progress-label`, { timeout: 20_000 });

    await page.click(`tr[data-run-id="${runId}"] a.run-link`);
    await page.waitForSelector('[data-live-state="live"]');
    await page.waitForSelector('.run-summary[data-status="COMPLETED"]', { timeout: 45_000 });

    await page.click('a:has-text("API keys")');
    await page.waitForURL(new RegExp(`${ENV}/apikeys$`));
    await page.fill('input[name="name"]', "Production check");
    await page.click('button:has-text("Create key")');
    await page.waitForSelector('[data-testid="new-key"]');
    await page.waitForSelector('[data-testid="audit-log"] tr[data-action="api-key-created"]');

    await page.click('a:has-text("Realtime")');
    await page.waitForURL(new RegExp(`${ENV}/realtime$`));
    await page.waitForSelector(".health");

    await page.click('a[href="/account"]');
    await page.waitForSelector('[data-testid="sessions"]');
    await page.click('button:text-is("Sign out")');
    await page.waitForURL(/\/login$/);
  });
});
