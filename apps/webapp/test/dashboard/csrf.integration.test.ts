/**
 * Cross-site request forgery beyond SameSite, against the running webapp: every state-changing
 * dashboard request (roll, create and revoke key, CSV sample and upload, cancel, sign out, sign out
 * everywhere, password change, sign-in) with another Origin, `Origin: null` or none is refused with a
 * 403 before it reaches the route, and nothing changes. The bearer-token APIs are not affected.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { triggerRun } from "../../app/services/trigger.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { postForm, signIn } from "./support.js";

const ENV = "/orgs/test-org/projects/test-project/env/dev";
const EVIL = "https://evil.example";

describe("cross-origin form posts", () => {
  let app: TestWebapp;
  let cookie: string;
  let runId: string;
  let keyId: string;
  const email = "csrf@runfeed.dev";
  const password = "csrf-password-123";

  beforeAll(async () => {
    // LOG_LEVEL error: each refusal is logged as a warning, a hundred of them here.
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9", LOG_LEVEL: "error" });
    const { prisma } = app.webapp.services;
    await seedDemoUser(prisma, { organizationIds: [app.project.organizationId], email, password });
    cookie = await signIn(app.url, email, password);
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    const { run } = await triggerRun(prisma, {
      environment: { id: dev.id, projectId: app.project.projectId, type: "DEVELOPMENT" },
      taskId: "csrf-task",
      body: { payload: {} },
      metadataMaximumSize: 262_144,
    });
    runId = run.friendlyId;
    const created = await postForm(
      app.url,
      `${ENV}/apikeys`,
      { intent: "create", name: "kept", scopes: "read:runs" },
      { cookie },
    );
    expect(created.status).toBe(200);
    keyId = (await prisma.apiKey.findFirstOrThrow({ where: { name: "kept" } })).id;
  });
  afterAll(() => app?.close());

  /** Everything a forged request could change. */
  const state = async () => {
    const { prisma } = app.webapp.services;
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    return {
      rootKey: (await prisma.runtimeEnvironment.findUniqueOrThrow({ where: { id: dev.id } })).apiKey,
      keys: await prisma.apiKey.findMany({ orderBy: { id: "asc" } }),
      runs: await prisma.taskRun.findMany({ select: { friendlyId: true, status: true }, orderBy: { id: "asc" } }),
      sessions: await prisma.session.findMany({ orderBy: { id: "asc" } }),
      passwordHash: (await prisma.user.findUniqueOrThrow({ where: { email } })).passwordHash,
      audit: await prisma.auditEvent.count(),
    };
  };

  const csv = () => {
    const form = new FormData();
    form.append("intent", "csv-upload");
    form.append("file", new Blob(["id,email\n1,a@example.com\n"], { type: "text/csv" }), "forged.csv");
    return form;
  };

  /** [name, path, body] of every state-changing dashboard request. */
  const actions = (): Array<[string, string, URLSearchParams | FormData]> => [
    ["roll the secret key", `${ENV}/apikeys`, new URLSearchParams({ intent: "roll-root", confirm: "dev" })],
    ["create a key", `${ENV}/apikeys`, new URLSearchParams({ intent: "create", name: "forged", scopes: "read:runs" })],
    ["revoke a key", `${ENV}/apikeys`, new URLSearchParams({ intent: "revoke", id: keyId })],
    ["import the sample CSV", `${ENV}/runs`, new URLSearchParams({ intent: "csv-sample" })],
    ["upload a CSV", `${ENV}/runs`, csv()],
    ["cancel a run", `${ENV}/runs/${runId}`, new URLSearchParams({ intent: "cancel" })],
    ["sign out", "/logout", new URLSearchParams()],
    ["sign out everywhere", "/account", new URLSearchParams({ intent: "sign-out-everywhere" })],
    [
      "change the password",
      "/account",
      new URLSearchParams({
        intent: "change-password",
        currentPassword: password,
        newPassword: "forged-password-1",
        confirmPassword: "forged-password-1",
      }),
    ],
    ["sign in (login CSRF)", "/login", new URLSearchParams({ email, password })],
  ];

  const forge = (path: string, body: URLSearchParams | FormData, origin: string | undefined) =>
    fetch(`${app.url}${path}`, {
      method: "POST",
      headers: { cookie, ...(origin === undefined ? {} : { origin }) },
      body,
      redirect: "manual",
    });

  it("refuses each with a 403 naming the problem, whatever the Origin, and changes nothing", async () => {
    const before = await state();
    const origins: Array<[string, string | undefined]> = [
      ["another site", EVIL],
      ["a sibling port", app.url.replace(/:(\d+)$/, (_m, port) => `:${Number(port) + 1}`)],
      ["https of the same host", app.url.replace("http:", "https:")],
      ["a sandboxed frame", "null"],
      ["no Origin header", undefined],
    ];
    for (const [name, path, body] of actions()) {
      for (const [from, origin] of origins) {
        // The document POST and Remix's single-fetch form POST (`.data`) alike.
        for (const target of [path, `${path}.data`]) {
          const response = await forge(target, body, origin);
          expect(response.status, `${name} from ${from} (${target})`).toBe(403);
          const answer = (await response.json()) as { error: string };
          expect(answer.error, `${name} from ${from}`).toMatch(
            origin ? /Cross-origin request refused/ : /Origin header required/,
          );
        }
      }
    }
    expect(await state()).toEqual(before);
  });

  it("refuses paths that only look like the token APIs", async () => {
    const before = await state();
    for (const path of [`/api/..${ENV}/apikeys`, `/api/%2e%2e${ENV}/apikeys`, `/realtime/../..${ENV}/apikeys`]) {
      const response = await forge(path, new URLSearchParams({ intent: "roll-root", confirm: "dev" }), EVIL);
      expect(response.status, path).toBe(403);
    }
    expect(await state()).toEqual(before);
  });

  it("lets the same requests through from the app's own origin", async () => {
    const cancel = await postForm(app.url, `${ENV}/runs/${runId}`, { intent: "cancel" }, { cookie });
    expect(cancel.status).toBe(200);
    const run = await app.webapp.services.prisma.taskRun.findUniqueOrThrow({ where: { friendlyId: runId } });
    expect(run.status).toBe("CANCELED");
    const signOut = await postForm(app.url, "/logout", {}, { cookie });
    expect(signOut.status).toBe(302);
  });

  it("leaves the bearer-token APIs to their tokens (no cookies are read there)", async () => {
    const dev = app.project.environments.find((e) => e.slug === "dev")!;
    const response = await fetch(`${app.url}/api/v1/tasks/hello-world/trigger`, {
      method: "POST",
      headers: { origin: EVIL, authorization: `Bearer ${dev.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ payload: {} }),
    });
    expect(response.status).toBe(200);
  });
});
