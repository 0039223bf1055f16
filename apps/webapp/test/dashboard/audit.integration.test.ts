/**
 * The audit log against the running webapp: key creation, rolls and revocations, sign-ins, failed
 * sign-ins (known and unknown email), sign-outs and password changes are written with the user, the
 * time and the client address, and the API keys page lists the environment's key events and its
 * organisation members' session events (not other organisations', not unknown emails').
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoUser, seedProject } from "../../app/services/seed.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { postForm, signIn } from "./support.js";

const ENV = "/orgs/test-org/projects/test-project/env/dev";

describe("audit log", () => {
  let app: TestWebapp;
  let cookie: string;
  const email = "auditor@runfeed.dev";
  const password = "audit-password-123";
  const outsider = "outsider@runfeed.dev";
  /** The client address each request claims (TRUST_PROXY=loopback believes X-Forwarded-For). */
  const from = "203.0.113.77";

  beforeAll(async () => {
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9", TRUST_PROXY: "loopback" });
    const { prisma } = app.webapp.services;
    await seedDemoUser(prisma, { organizationIds: [app.project.organizationId], email, password });
    const other = await seedProject(prisma, {
      orgSlug: "other-org",
      orgTitle: "Other",
      projectSlug: "other-project",
      projectName: "Other",
    });
    await seedDemoUser(prisma, { organizationIds: [other.organizationId], email: outsider, password });
  });
  afterAll(() => app?.close());

  const events = () =>
    app.webapp.services.prisma.auditEvent.findMany({
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      include: { user: { select: { email: true } } },
    });
  const post = (path: string, fields: Record<string, string | string[]>) =>
    postForm(app.url, path, fields, { cookie, "x-forwarded-for": from });

  it("records sign-ins and failed sign-ins with user, time and address", async () => {
    const started = Date.now();
    expect((await postForm(app.url, "/login", { email, password: "wrong" }, { "x-forwarded-for": from })).status).toBe(
      401,
    );
    expect(
      (await postForm(app.url, "/login", { email: "nobody@runfeed.dev", password: "x" }, { "x-forwarded-for": from }))
        .status,
    ).toBe(401);
    cookie = await signIn(app.url, email, password, { "x-forwarded-for": from });
    await signIn(app.url, outsider, password, { "x-forwarded-for": "192.0.2.1" });

    const recorded = await events();
    expect(recorded.map((e) => [e.action, e.user?.email ?? null, e.clientAddress])).toEqual([
      ["sign-in-failed", email, from],
      ["sign-in-failed", null, from],
      ["sign-in", email, from],
      ["sign-in", outsider, "192.0.2.1"],
    ]);
    for (const event of recorded) {
      expect(event.createdAt.getTime()).toBeGreaterThanOrEqual(started - 1000);
      expect(event.createdAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      expect(JSON.stringify(event.details ?? {})).not.toMatch(/wrong|audit-password/);
    }
  });

  it("records key creation, revocation and rolls of the environment", async () => {
    const { prisma } = app.webapp.services;
    expect(
      (await post(`${ENV}/apikeys`, { intent: "create", name: "Deploys", scopes: ["trigger:tasks"] })).status,
    ).toBe(200);
    const key = await prisma.apiKey.findFirstOrThrow({ where: { name: "Deploys" } });
    expect((await post(`${ENV}/apikeys`, { intent: "revoke", id: key.id })).status).toBe(200);
    expect((await post(`${ENV}/apikeys`, { intent: "roll-root", confirm: "dev" })).status).toBe(200);
    // Refused attempts change nothing and record nothing.
    expect((await post(`${ENV}/apikeys`, { intent: "roll-root", confirm: "nope" })).status).toBe(400);
    expect((await post(`${ENV}/apikeys`, { intent: "revoke", id: key.id })).status).toBe(404);

    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    const keyEvents = (await events()).filter((e) => e.runtimeEnvironmentId !== null);
    expect(keyEvents.map((e) => [e.action, e.user?.email, e.clientAddress, e.runtimeEnvironmentId])).toEqual([
      ["api-key-created", email, from, dev.id],
      ["api-key-revoked", email, from, dev.id],
      ["root-key-rolled", email, from, dev.id],
    ]);
    expect(keyEvents[0]!.details).toEqual({ name: "Deploys", keyPrefix: key.keyPrefix, scopes: "trigger:tasks" });
    expect(keyEvents[1]!.details).toEqual({ name: "Deploys", keyPrefix: key.keyPrefix });
    // No key material in the log.
    const rolled = await prisma.runtimeEnvironment.findUniqueOrThrow({ where: { id: dev.id } });
    expect(JSON.stringify(await events())).not.toContain(rolled.apiKey);
  });

  it("records sign-outs and password changes", async () => {
    const second = await signIn(app.url, email, password, { "x-forwarded-for": from });
    expect((await postForm(app.url, "/logout", {}, { cookie: second, "x-forwarded-for": from })).status).toBe(302);
    const changed = await post("/account", {
      intent: "change-password",
      currentPassword: password,
      newPassword: "audit-password-456",
      confirmPassword: "audit-password-456",
    });
    expect(changed.status).toBe(302);
    cookie = changed.headers.get("set-cookie")!.split(";")[0]!;
    expect((await post("/account", { intent: "sign-out-everywhere" })).status).toBe(302);
    const tail = (await events()).slice(-4).map((e) => [e.action, e.user?.email, e.clientAddress]);
    expect(tail).toEqual([
      ["sign-in", email, from],
      ["sign-out", email, from],
      ["password-changed", email, from],
      ["sign-out-everywhere", email, from],
    ]);
    cookie = await signIn(app.url, email, "audit-password-456", { "x-forwarded-for": from });
  });

  it("shows the environment's events and its members' sign-ins on the API keys page", async () => {
    const html = await (await fetch(`${app.url}${ENV}/apikeys`, { headers: { cookie } })).text();
    const table = html.slice(html.indexOf('data-testid="audit-log"'));
    const rows = [...table.matchAll(/<tr data-action="([^"]+)">(.*?)<\/tr>/g)].map((m) => ({
      action: m[1]!,
      text: m[2]!.replace(/<[^>]+>/g, " "),
    }));
    const actions = rows.map((r) => r.action);
    expect(actions).toEqual(
      expect.arrayContaining([
        "sign-in",
        "sign-in-failed",
        "sign-out",
        "password-changed",
        "sign-out-everywhere",
        "api-key-created",
        "api-key-revoked",
        "root-key-rolled",
      ]),
    );
    expect(rows[0]!.action).toBe("sign-in"); // newest first
    expect(rows.every((r) => r.text.includes(email) && r.text.includes(from))).toBe(true);
    // Another organisation's member and an unknown email are not this organisation's business.
    expect(table).not.toContain(outsider);
    expect(table).not.toContain("192.0.2.1");
    expect(rows.filter((r) => r.action === "sign-in-failed")).toHaveLength(1);
    expect(table).toContain("Deploys");
  });
});
