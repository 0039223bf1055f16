/**
 * Sign-in, the session cookie, and isolation: a session sees only the environments of its
 * organisation, each environment's pages show only that environment's runs, and the realtime token
 * the dashboard mints for one environment cannot read another's runs.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoUser, seedProject, type SeededProject } from "../../app/services/seed.server.js";
import { triggerRun } from "../../app/services/trigger.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { postForm, signIn } from "./support.js";

describe("dashboard sessions", () => {
  let app: TestWebapp;
  let other: SeededProject;
  let cookie: string;
  const runs: Record<string, string> = {};
  const password = "s3cret-password";

  beforeAll(async () => {
    // The upstream shape server is not needed: authorisation happens before the proxy (503 past it).
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9" });
    const { prisma } = app.webapp.services;
    await seedDemoUser(prisma, { organizationIds: [app.project.organizationId], email: "alice@runfeed.dev", password });
    other = await seedProject(prisma, {
      orgSlug: "other-org",
      orgTitle: "Other",
      projectSlug: "other-project",
      projectName: "Other",
    });
    const trigger = async (environment: { id: string; type: string }, projectId: string, name: string) => {
      const { run } = await triggerRun(prisma, {
        environment: { id: environment.id, projectId, type: environment.type as "DEVELOPMENT" },
        taskId: `task-${name}`,
        body: { payload: { name }, options: { tags: [`who:${name}`] } },
        metadataMaximumSize: 262_144,
      });
      runs[name] = run.friendlyId;
    };
    const env = (slug: string) => app.project.environments.find((e) => e.slug === slug)!;
    await trigger(env("dev"), app.project.projectId, "dev");
    await trigger(env("staging"), app.project.projectId, "staging");
    await trigger(other.environments.find((e) => e.slug === "dev")!, other.projectId, "foreign");
    cookie = await signIn(app.url, "alice@runfeed.dev", password);
  });
  afterAll(() => app.close());

  const page = (path: string, withCookie = true) =>
    fetch(`${app.url}${path}`, { headers: withCookie ? { cookie } : {}, redirect: "manual" });
  const envPath = (org: string, project: string, env: string, rest = "runs") =>
    `/orgs/${org}/projects/${project}/env/${env}/${rest}`;

  it("rejects a wrong password and redirects anonymous visitors to sign-in", async () => {
    const wrong = await postForm(app.url, "/login", { email: "alice@runfeed.dev", password: "nope" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const anonymous = await page(envPath("test-org", "test-project", "dev"), false);
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.get("location")).toMatch(/^\/login\?redirectTo=%2Forgs%2Ftest-org/);
  });

  it("signs the session cookie with SESSION_SECRET (a tampered cookie is ignored)", async () => {
    const [name, value] = cookie.split("=") as [string, string];
    const tampered = `${name}=${value.slice(0, -3)}abc`;
    const response = await fetch(`${app.url}/`, { headers: { cookie: tampered }, redirect: "manual" });
    expect(response.headers.get("location")).toMatch(/^\/login/);
  });

  it("lands a signed-in user on their first environment's runs", async () => {
    const response = await page("/");
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe(envPath("test-org", "test-project", "dev"));
  });

  it("shows each environment only its own runs", async () => {
    const dev = await (await page(envPath("test-org", "test-project", "dev"))).text();
    expect(dev).toContain(runs.dev);
    expect(dev).not.toContain(runs.staging);
    expect(dev).not.toContain(runs.foreign);
    const staging = await (await page(envPath("test-org", "test-project", "staging"))).text();
    expect(staging).toContain(runs.staging);
    expect(staging).not.toContain(runs.dev);
    // A run of another environment is not found through this one.
    expect((await page(envPath("test-org", "test-project", "dev", `runs/${runs.staging}`))).status).toBe(404);
  });

  it("does not open another organisation's environment", async () => {
    for (const rest of ["runs", `runs/${runs.foreign}`, "apikeys", "realtime", "realtime-token"]) {
      const path =
        rest === "realtime-token"
          ? `/resources${envPath("other-org", "other-project", "dev", rest)}`
          : envPath("other-org", "other-project", "dev", rest);
      const response = await page(path);
      expect(response.status, path).toBe(404);
      expect(await response.text()).not.toContain(runs.foreign);
    }
  });

  it("mints a realtime token that reads only its own environment", async () => {
    const tokenFor = async (env: string) => {
      const response = await page(`/resources${envPath("test-org", "test-project", env, "realtime-token")}`);
      expect(response.status).toBe(200);
      return ((await response.json()) as { token: string }).token;
    };
    const devToken = await tokenFor("dev");
    // A bad query is a 400 in the API's one error body: `error` names the field, `details` lists it.
    const refused = await page(`/resources${envPath("test-org", "test-project", "dev", "realtime-token")}?run=nope`);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({
      error: expect.stringMatching(/^Invalid query: run: /),
      details: [{ path: "run", message: expect.any(String) }],
    });
    const feed = (path: string, token: string) =>
      fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    // The token's subject is the dev environment: another environment's run does not exist for it.
    expect((await feed(`/realtime/v1/runs/${runs.staging}?offset=-1`, devToken)).status).toBe(404);
    expect((await feed(`/realtime/v1/runs/${runs.foreign}?offset=-1`, devToken)).status).toBe(404);
    // Its own run passes authentication and authorisation (503 = the proxy tried the closed upstream).
    expect((await feed(`/realtime/v1/runs/${runs.dev}?offset=-1`, devToken)).status).toBe(503);
    // It cannot write: the trigger API refuses it.
    const write = await fetch(`${app.url}/api/v1/tasks/x/trigger`, {
      method: "POST",
      headers: { authorization: `Bearer ${devToken}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: {} }),
    });
    expect(write.status).toBe(403);
  });

  it("signs out", async () => {
    const response = await postForm(app.url, "/logout", {}, { cookie });
    expect(response.status).toBe(302);
    expect(response.headers.get("set-cookie")).toMatch(/__runfeed_session=;/);
  });
});
