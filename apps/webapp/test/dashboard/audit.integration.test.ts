/**
 * The audit log against the running webapp: key creation, rolls and revocations are written with the
 * user, the time and the client address, and the API keys page lists the environment's key events.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { postForm, signIn } from "./support.js";

const ENV = "/orgs/test-org/projects/test-project/env/dev";

describe("audit log", () => {
  let app: TestWebapp;
  let cookie: string;
  const email = "auditor@runfeed.dev";
  const password = "audit-password-123";
  /** The client address each request claims (TRUST_PROXY=loopback believes X-Forwarded-For). */
  const from = "203.0.113.77";

  beforeAll(async () => {
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9", TRUST_PROXY: "loopback" });
    const { prisma } = app.webapp.services;
    await seedDemoUser(prisma, { organizationIds: [app.project.organizationId], email, password });
    cookie = await signIn(app.url, email, password, { "x-forwarded-for": from });
  });
  afterAll(() => app?.close());

  const events = () =>
    app.webapp.services.prisma.auditEvent.findMany({
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      include: { user: { select: { email: true } } },
    });
  const post = (path: string, fields: Record<string, string | string[]>) =>
    postForm(app.url, path, fields, { cookie, "x-forwarded-for": from });

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

  it("shows the environment's events on the API keys page", async () => {
    const html = await (await fetch(`${app.url}${ENV}/apikeys`, { headers: { cookie } })).text();
    const table = html.slice(html.indexOf('data-testid="audit-log"'));
    const rows = [...table.matchAll(/<tr data-action="([^"]+)">(.*?)<\/tr>/g)].map((m) => ({
      action: m[1]!,
      text: m[2]!.replace(/<[^>]+>/g, " "),
    }));
    expect(rows.map((r) => r.action)).toEqual(["root-key-rolled", "api-key-revoked", "api-key-created"]);
    expect(rows.every((r) => r.text.includes(email) && r.text.includes(from))).toBe(true);
    expect(table).toContain("Deploys");
  });
});
