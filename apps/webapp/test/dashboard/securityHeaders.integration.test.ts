/**
 * Security headers on the running webapp's HTML: a CSP that allows only our own scripts (Remix's
 * inline ones by a per-response nonce), styles and connections and no framing; X-Frame-Options;
 * nosniff; a same-origin Referrer-Policy; HSTS only over HTTPS. Also: the demo email is offered on
 * the sign-in form only in seeded demo mode.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { signIn } from "./support.js";

const ENV = "/orgs/test-org/projects/test-project/env/dev";

function parseCsp(header: string | null): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  for (const part of (header ?? "").split(";")) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name, values);
  }
  return directives;
}

describe("security headers", () => {
  let app: TestWebapp;
  let demo: TestWebapp;
  let cookie: string;

  beforeAll(async () => {
    [app, demo] = await Promise.all([
      startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9" }),
      startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9", DEMO_SIGN_IN_EMAIL: "demo@runfeed.dev" }),
    ]);
    await seedDemoUser(app.webapp.services.prisma, {
      organizationIds: [app.project.organizationId],
      email: "headers@runfeed.dev",
      password: "headers-password-1",
    });
    cookie = await signIn(app.url, "headers@runfeed.dev", "headers-password-1");
  });
  afterAll(async () => {
    await app?.close();
    await demo?.close();
  });

  const pages = () => [
    { name: "sign-in", path: "/login", cookie: undefined },
    { name: "runs", path: `${ENV}/runs`, cookie },
    { name: "API keys", path: `${ENV}/apikeys`, cookie },
    { name: "realtime", path: `${ENV}/realtime`, cookie },
    { name: "account", path: "/account", cookie },
    { name: "not found", path: `${ENV}/runs/run_missing`, cookie },
  ];

  it("sends a nonce-based CSP, no framing, nosniff and a strict referrer policy on every page", async () => {
    const nonces = new Set<string>();
    for (const { name, path, cookie } of pages()) {
      const response = await fetch(`${app.url}${path}`, { headers: cookie ? { cookie } : {} });
      expect(response.headers.get("content-type"), name).toMatch(/^text\/html/);
      const csp = parseCsp(response.headers.get("content-security-policy"));
      const nonce = csp.get("script-src")?.find((v) => v.startsWith("'nonce-"));
      expect(nonce, name).toMatch(/^'nonce-[A-Za-z0-9+/]{22}=='$/);
      expect(csp.get("script-src"), name).toEqual(["'self'", nonce]);
      expect(csp.get("default-src"), name).toEqual(["'self'"]);
      expect(csp.get("style-src"), name).toEqual(["'self'"]);
      expect(csp.get("connect-src"), name).toEqual(["'self'"]);
      expect(csp.get("img-src"), name).toEqual(["'self'", "data:"]);
      expect(csp.get("object-src"), name).toEqual(["'none'"]);
      expect(csp.get("base-uri"), name).toEqual(["'none'"]);
      expect(csp.get("form-action"), name).toEqual(["'self'"]);
      expect(csp.get("frame-ancestors"), name).toEqual(["'none'"]);
      expect(csp.get("script-src-attr"), name).toEqual(["'none'"]);
      expect(response.headers.get("content-security-policy"), name).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(response.headers.get("x-frame-options"), name).toBe("DENY");
      expect(response.headers.get("x-content-type-options"), name).toBe("nosniff");
      expect(response.headers.get("referrer-policy"), name).toBe("same-origin");
      expect(response.headers.get("strict-transport-security"), name).toBeNull(); // plain http
      expect(response.headers.get("x-powered-by"), name).toBeNull();

      // Every script in the document is either ours by URL or carries this response's nonce.
      const html = await response.text();
      const value = nonce!.slice("'nonce-".length, -1);
      const scripts = [...html.matchAll(/<script\b([^>]*)>/g)].map((m) => m[1]!);
      expect(scripts.length, name).toBeGreaterThan(0);
      for (const attributes of scripts) {
        const src = /\bsrc="([^"]*)"/.exec(attributes)?.[1];
        if (src) expect(src.startsWith("/") && !src.startsWith("//"), `${name}: ${src}`).toBe(true);
        else expect(attributes, name).toContain(`nonce="${value}"`);
      }
      expect(html, name).not.toMatch(/\sstyle="/); // style-src 'self' would refuse inline style attributes
      expect(html, name).not.toMatch(/\son[a-z]+="/); // nor inline event handlers (script-src-attr 'none')
      nonces.add(value);
    }
    expect(nonces.size, "a fresh nonce per response").toBe(pages().length);
  });

  it("sends nosniff and no-framing on API answers too", async () => {
    const response = await fetch(`${app.url}/api/v3/runs/run_x`, { headers: { authorization: "Bearer nope" } });
    expect(response.status).toBe(401);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
  });

  it("pre-fills the demo email only in seeded demo mode", async () => {
    const plain = await (await fetch(`${app.url}/login`)).text();
    expect(plain).not.toContain("demo@runfeed.dev");
    expect(plain).not.toContain("pnpm start");
    const seeded = await (await fetch(`${demo.url}/login`)).text();
    expect(seeded).toMatch(/<input[^>]*name="email"[^>]*value="demo@runfeed.dev"/);
    expect(seeded).toContain("pnpm start");
  });
});
