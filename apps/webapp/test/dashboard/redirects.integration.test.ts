/**
 * Where sign-in sends the browser: `redirectTo` values an attacker would put in a link to the real
 * sign-in page, tried against the running webapp both ways it is read (the sign-in form's POST and the
 * sign-in page's GET while already signed in). Every hostile value lands on "/"; wherever the answer
 * points, a browser resolving it against the page stays on the app's origin.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";
import { postForm, signIn } from "./support.js";

const ENV_RUNS = "/orgs/test-org/projects/test-project/env/dev/runs";

/** Values that must not leave "/" (another host, a script, or a page that is not a dashboard page). */
const HOSTILE = (app: string): string[] => {
  const host = new URL(app).host;
  return [
    // other origins, schemes
    "https://evil.example",
    "http://evil.example/orgs/test-org",
    "HTTPS://EVIL.EXAMPLE",
    "https:evil.example",
    "http:/evil.example",
    "http:\\\\evil.example",
    "ftp://evil.example/",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    "javascript://%0aalert(1)",
    "java\tscript:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "blob:https://evil.example/uuid",
    // protocol-relative, slashes and backslashes
    "//evil.example",
    "///evil.example",
    "////evil.example/orgs/x",
    "//evil.example/orgs/test-org/projects/test-project/env/dev/runs",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "/.//evil.example",
    "/./\\evil.example",
    "/orgs/..//evil.example",
    "/orgs/../..//evil.example",
    "/orgs/%2e%2e//evil.example",
    "/orgs/%2E%2E/%2E%2E//evil.example",
    // userinfo: the host after @ is the one a browser visits
    "//evil.example@evil.example",
    `//${host}@evil.example`,
    `http://${host}@evil.example/`,
    `${app.replace("://", "://user:secret@")}${ENV_RUNS}`,
    // encodings: never decoded into another host, and not dashboard pages either
    "/%2F%2Fevil.example",
    "%2F%2Fevil.example",
    "/%5C%5Cevil.example",
    "/%252F%252Fevil.example",
    "%252F%252Fevil.example",
    "/%09/evil.example",
    "/%0d%0aSet-Cookie:%20x=1",
    "/\u3002evil.example",
    "//evil%E3%80%82example",
    `//evil.example%2F@${host}`,
    // control characters, tabs, newlines (browsers strip some of them before parsing)
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\n/evil.example",
    "\t//evil.example",
    "/\u0000/evil.example",
    "\u0000//evil.example",
    "/orgs/x\r\nSet-Cookie: x=1",
    " //evil.example",
    "\u001f//evil.example",
    "/\u007f/evil.example",
    // this origin, but not a dashboard page
    "/login",
    "/logout",
    "/api/v1/tasks/x/trigger",
    "/realtime/v1/runs",
    "/healthz",
    "/orgs/../api/v1/tasks/x/trigger",
    "/@evil.example",
    "evil.example",
    // too long to be a link anyone followed
    `/orgs/${"a".repeat(3000)}`,
  ];
};

/** Dashboard pages: kept, normalised as the browser would. */
const ALLOWED = (app: string): Array<[string, string]> => [
  ["/", "/"],
  [ENV_RUNS, ENV_RUNS],
  [`${ENV_RUNS}?status=FAILED&tag=a%20b#top`, `${ENV_RUNS}?status=FAILED&tag=a%20b#top`],
  ["/account", "/account"],
  // A relative path resolves against the app's origin, as the browser resolves it against the page's.
  ["orgs/test-org/projects/test-project/env/dev/runs", ENV_RUNS],
  [`${app}${ENV_RUNS}`, ENV_RUNS],
  [
    "/orgs/test-org/projects/test-project/env/dev/../staging/runs",
    "/orgs/test-org/projects/test-project/env/staging/runs",
  ],
];

describe("redirect after sign-in", () => {
  let app: TestWebapp;
  let cookie: string;
  const email = "redirects@runfeed.dev";
  const password = "redirect-password-1";

  beforeAll(async () => {
    app = await startTestWebapp({ ELECTRIC_ORIGIN: "http://127.0.0.1:9" });
    await seedDemoUser(app.webapp.services.prisma, { organizationIds: [app.project.organizationId], email, password });
    cookie = await signIn(app.url, email, password);
  });
  afterAll(() => app?.close());

  const stays = (location: string) => expect(new URL(location, `${app.url}/login`).origin).toBe(app.url);

  it("sends the signed-in sign-in page to / for every hostile redirectTo", async () => {
    for (const value of HOSTILE(app.url)) {
      const response = await fetch(`${app.url}/login?redirectTo=${encodeURIComponent(value)}`, {
        headers: { cookie },
        redirect: "manual",
      });
      expect(response.status, JSON.stringify(value)).toBe(302);
      const location = response.headers.get("location")!;
      expect(location, JSON.stringify(value)).toBe("/");
      stays(location);
    }
  });

  it("sends a fresh sign-in to / for every hostile redirectTo", async () => {
    for (const value of HOSTILE(app.url)) {
      const response = await postForm(app.url, "/login", { email, password, redirectTo: value });
      expect(response.status, JSON.stringify(value)).toBe(302);
      expect(response.headers.get("location"), JSON.stringify(value)).toBe("/");
      expect(response.headers.get("set-cookie")).toMatch(/^__runfeed_session=/);
    }
  }, 60_000);

  it("keeps dashboard pages (normalised, on this origin)", async () => {
    for (const [value, expected] of ALLOWED(app.url)) {
      const viaPage = await fetch(`${app.url}/login?redirectTo=${encodeURIComponent(value)}`, {
        headers: { cookie },
        redirect: "manual",
      });
      expect(viaPage.headers.get("location"), value).toBe(expected);
      const viaForm = await postForm(app.url, "/login", { email, password, redirectTo: value });
      expect(viaForm.headers.get("location"), value).toBe(expected);
      stays(expected);
    }
  });

  it("sends an anonymous visitor back where they were going after sign-in", async () => {
    const anonymous = await fetch(`${app.url}${ENV_RUNS}?status=FAILED`, { redirect: "manual" });
    const login = new URL(anonymous.headers.get("location")!, app.url);
    expect(login.pathname).toBe("/login");
    const redirectTo = login.searchParams.get("redirectTo")!;
    const response = await postForm(app.url, "/login", { email, password, redirectTo });
    expect(response.headers.get("location")).toBe(`${ENV_RUNS}?status=FAILED`);
  });
});
