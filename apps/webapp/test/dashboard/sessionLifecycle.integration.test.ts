/**
 * Server-side sessions against the running webapp: the cookie holds a random token whose hash is the
 * Session row; signing out, signing out everywhere and changing the password delete rows, so a cookie
 * replayed afterwards opens the sign-in page; idle and absolute lifetimes end sessions; the cookie is
 * `Secure` when APP_ORIGIN is https or a trusted proxy says the request came over https.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SESSION_COOKIE } from "../../app/services/session.server.js";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { cookieOf, postForm, signIn } from "./support.js";

const RUNS = "/orgs/test-org/projects/test-project/env/dev/runs";

describe("dashboard sessions are server-side", () => {
  let app: TestWebapp;
  const email = "sessions@runfeed.dev";
  let password = "first-password-123";

  beforeAll(async () => {
    app = await startTestWebapp({
      ELECTRIC_ORIGIN: "http://127.0.0.1:9",
      SESSION_IDLE_TIMEOUT_MS: "3600000",
      SESSION_MAX_AGE_MS: "86400000",
    });
    await seedDemoUser(app.webapp.services.prisma, { organizationIds: [app.project.organizationId], email, password });
  });
  afterAll(() => app?.close());

  const open = (cookie: string, path = RUNS) => fetch(`${app.url}${path}`, { headers: { cookie }, redirect: "manual" });
  /** 200: the dashboard opened; otherwise where it sent us. */
  const outcome = async (cookie: string, path = RUNS) => {
    const response = await open(cookie, path);
    return response.status === 200 ? "dashboard" : new URL(response.headers.get("location") ?? "", app.url).pathname;
  };
  const tokenOf = (cookie: string) => {
    const value = decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1));
    return JSON.parse(Buffer.from(value.slice(0, value.lastIndexOf(".")), "base64").toString("utf8")) as string;
  };
  const sessionIdOf = (cookie: string) => createHash("sha256").update(tokenOf(cookie)).digest("hex");
  const sessions = () => app.webapp.services.prisma.session.findMany({ where: { user: { email } } });

  it("stores only the hash of a random token, with lifetimes from the env", async () => {
    const response = await postForm(app.url, "/login", { email, password, redirectTo: RUNS });
    expect(response.status).toBe(302);
    const header = response.headers.get("set-cookie")!;
    expect(header).toMatch(new RegExp(`^${SESSION_COOKIE}=`));
    expect(header).toMatch(/; HttpOnly/i);
    expect(header).toMatch(/; SameSite=Lax/i);
    expect(header).not.toMatch(/; Secure/i); // plain http, no APP_ORIGIN, no trusted proxy
    const cookie = cookieOf(response)!;
    const token = tokenOf(cookie);
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 random bytes
    const row = await app.webapp.services.prisma.session.findUniqueOrThrow({ where: { id: sessionIdOf(cookie) } });
    expect(JSON.stringify(row)).not.toContain(token);
    expect(row.expiresAt.getTime() - row.createdAt.getTime()).toBe(86_400_000);
    expect(row.clientAddress).toBe("127.0.0.1");
    const expires = /Expires=([^;]+)/i.exec(header)?.[1];
    expect(new Date(expires!).getTime()).toBe(Math.floor(row.expiresAt.getTime() / 1000) * 1000);
    expect(await outcome(cookie)).toBe("dashboard");

    // No TRUST_PROXY: forwarded headers from the client change neither the flag nor the address.
    const spoofed = await postForm(
      app.url,
      "/login",
      { email, password },
      { "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.9" },
    );
    expect(spoofed.headers.get("set-cookie")).not.toMatch(/; Secure/i);
    const spoofedRow = await app.webapp.services.prisma.session.findUniqueOrThrow({
      where: { id: sessionIdOf(cookieOf(spoofed)!) },
    });
    expect(spoofedRow.clientAddress).toBe("127.0.0.1");
  });

  it("ignores a cookie signed with another secret or naming no session", async () => {
    const cookie = await signIn(app.url, email, password);
    const value = decodeURIComponent(cookie.slice(cookie.indexOf("=") + 1));
    const unsigned = `${SESSION_COOKIE}=${encodeURIComponent(value.slice(0, value.lastIndexOf(".")))}`;
    expect(await outcome(unsigned)).toBe("/login");
    const tampered = `${SESSION_COOKIE}=${encodeURIComponent(`${value.slice(0, -4)}AAAA`)}`;
    expect(await outcome(tampered)).toBe("/login");
  });

  it("opens nothing with a cookie replayed after sign-out", async () => {
    const cookie = await signIn(app.url, email, password);
    const other = await signIn(app.url, email, password);
    expect(await outcome(cookie)).toBe("dashboard");
    const signOut = await postForm(app.url, "/logout", {}, { cookie });
    expect(signOut.status).toBe(302);
    expect(signOut.headers.get("location")).toBe("/login");
    expect(await app.webapp.services.prisma.session.findUnique({ where: { id: sessionIdOf(cookie) } })).toBeNull();
    // The browser forgot it; an attacker who copied it replays it.
    expect(await outcome(cookie)).toBe("/login");
    expect(await outcome(cookie, "/account")).toBe("/login");
    expect((await open(cookie, `/resources${RUNS.replace(/\/runs$/, "")}/realtime-token`)).status).toBe(302);
    // Only that session ended.
    expect(await outcome(other)).toBe("dashboard");
  });

  it("ends every session of the user on 'sign out everywhere'", async () => {
    const first = await signIn(app.url, email, password);
    const second = await signIn(app.url, email, password);
    expect(await outcome(first)).toBe("dashboard");
    expect(await outcome(second)).toBe("dashboard");
    const response = await postForm(app.url, "/account", { intent: "sign-out-everywhere" }, { cookie: second });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/login");
    expect(await sessions()).toEqual([]);
    expect(await outcome(first)).toBe("/login");
    expect(await outcome(second)).toBe("/login");
  });

  it("ends every other session on a password change and keeps this browser signed in", async () => {
    const elsewhere = await signIn(app.url, email, password);
    const here = await signIn(app.url, email, password);
    const change = (fields: Record<string, string>) =>
      postForm(app.url, "/account", { intent: "change-password", ...fields }, { cookie: here });

    const wrongCurrent = await change({
      currentPassword: "not-it",
      newPassword: "second-password-456",
      confirmPassword: "second-password-456",
    });
    expect(wrongCurrent.status).toBe(401);
    const mismatch = await change({
      currentPassword: password,
      newPassword: "second-password-456",
      confirmPassword: "second-password-789",
    });
    expect(mismatch.status).toBe(400);
    const tooShort = await change({ currentPassword: password, newPassword: "short", confirmPassword: "short" });
    expect(tooShort.status).toBe(400);
    expect(await outcome(elsewhere)).toBe("dashboard");

    const changed = await change({
      currentPassword: password,
      newPassword: "second-password-456",
      confirmPassword: "second-password-456",
    });
    expect(changed.status).toBe(302);
    expect(changed.headers.get("location")).toBe("/account?password=changed");
    const fresh = cookieOf(changed)!;
    expect(fresh).not.toBe(here);
    expect(await outcome(elsewhere)).toBe("/login");
    expect(await outcome(here)).toBe("/login");
    expect(await outcome(fresh)).toBe("dashboard");
    expect(await sessions()).toHaveLength(1);

    expect((await postForm(app.url, "/login", { email, password })).status).toBe(401);
    password = "second-password-456";
    expect(await outcome(await signIn(app.url, email, password))).toBe("dashboard");
  });

  it("ends a session after the idle timeout and after the absolute lifetime", async () => {
    const { prisma } = app.webapp.services;
    const idle = await signIn(app.url, email, password);
    const old = await signIn(app.url, email, password);
    const active = await signIn(app.url, email, password);
    const hour = 3_600_000;
    // Idle: the last request was just over SESSION_IDLE_TIMEOUT_MS ago.
    await prisma.session.update({
      where: { id: sessionIdOf(idle) },
      data: { lastSeenAt: new Date(Date.now() - hour - 1000) },
    });
    // Absolute: active a minute ago, but SESSION_MAX_AGE_MS after sign-in has passed.
    await prisma.session.update({
      where: { id: sessionIdOf(old) },
      data: { lastSeenAt: new Date(Date.now() - 60_000), expiresAt: new Date(Date.now() - 1000) },
    });
    // Active within the timeout: kept, and its lastSeenAt moves forward.
    const before = new Date(Date.now() - hour + 60_000);
    await prisma.session.update({ where: { id: sessionIdOf(active) }, data: { lastSeenAt: before } });

    expect(await outcome(idle)).toBe("/login");
    expect(await outcome(old)).toBe("/login");
    expect(await outcome(active)).toBe("dashboard");
    expect(await prisma.session.findUnique({ where: { id: sessionIdOf(idle) } })).toBeNull();
    expect(await prisma.session.findUnique({ where: { id: sessionIdOf(old) } })).toBeNull();
    const touched = await prisma.session.findUniqueOrThrow({ where: { id: sessionIdOf(active) } });
    expect(touched.lastSeenAt.getTime()).toBeGreaterThan(before.getTime() + 50 * 60_000);
  });

  it("lists the user's open sessions on the account page", async () => {
    const cookie = await signIn(app.url, email, password, { "user-agent": "SessionListTest/1.0" });
    const html = await (await open(cookie, "/account")).text();
    expect(html).toContain("SessionListTest/1.0");
    expect(html).toContain("this browser");
  });
});

describe("the session cookie's Secure flag", () => {
  const email = "secure@runfeed.dev";
  const password = "secure-password-123";
  let https: TestWebapp;
  let proxied: TestWebapp;

  beforeAll(async () => {
    [https, proxied] = await Promise.all([
      startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9", APP_ORIGIN: "https://dashboard.example" }),
      startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9", TRUST_PROXY: "loopback" }),
    ]);
    for (const app of [https, proxied]) {
      await seedDemoUser(app.webapp.services.prisma, {
        organizationIds: [app.project.organizationId],
        email,
        password,
      });
    }
  });
  afterAll(async () => {
    await https?.close();
    await proxied?.close();
  });

  it("is set when APP_ORIGIN is https (and forms must come from that origin)", async () => {
    // As a TLS-terminating proxy in front of it would pass the request on (Remix compares the host too).
    const viaProxy = { origin: "https://dashboard.example", "x-forwarded-host": "dashboard.example" };
    const response = await postForm(https.url, "/login", { email, password }, viaProxy);
    expect(response.status).toBe(302);
    expect(response.headers.get("set-cookie")).toMatch(/; Secure/i);
    expect(response.headers.get("strict-transport-security")).toMatch(/^max-age=\d+/);
    const signOut = await postForm(https.url, "/logout", {}, { ...viaProxy, cookie: cookieOf(response)! });
    expect(signOut.headers.get("set-cookie")).toMatch(/; Secure/i);
    // The page's own URL is not the public origin: a form claiming it is refused.
    expect((await postForm(https.url, "/login", { email, password })).status).toBe(403);
  });

  it("is set behind a trusted proxy that says https", async () => {
    const viaProxy = await postForm(
      proxied.url,
      "/login",
      { email, password },
      { "x-forwarded-proto": "https", "x-forwarded-host": "runs.example", origin: "https://runs.example" },
    );
    expect(viaProxy.status).toBe(302);
    expect(viaProxy.headers.get("set-cookie")).toMatch(/; Secure/i);
    expect(viaProxy.headers.get("strict-transport-security")).toMatch(/^max-age=\d+/);
    const plain = await postForm(proxied.url, "/login", { email, password });
    expect(plain.headers.get("set-cookie")).not.toMatch(/; Secure/i);
  });
});
