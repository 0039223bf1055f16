/**
 * The built bundle (the one the test setup makes, served with NODE_ENV=production as `pnpm start` does)
 * under the CSP: every inline script carries the response's nonce. The pages themselves are used in
 * Chromium, with no CSP violation allowed, by dashboard.e2e.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDashboard, type DashboardFixture } from "./support.js";

describe("the production build", () => {
  let fixture: DashboardFixture;

  beforeAll(async () => {
    fixture = await startDashboard();
  }, 120_000);
  afterAll(async () => {
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
});
