/**
 * Dashboard test support: a real shape server (apps/shape-sync as a child process, as the start
 * command runs it), sign-in over HTTP, and Chromium.
 */
import { fileURLToPath } from "node:url";
import { freePort, spawnShapeSync, type ShapeSyncProcess } from "@runfeed/devstack";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { createWorker } from "../../app/worker/createWorker.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";

export type ShapeSync = ShapeSyncProcess;

export interface DashboardFixture {
  app: TestWebapp;
  /** None on the native backend. */
  shapeSync?: ShapeSync;
  user: { email: string; password: string };
  close(): Promise<void>;
}

/**
 * A webapp in front of a real shape server, with a signed-up user of the test org, serving the
 * production build as `pnpm start` does (the test setup builds it). With `worker: true` the example
 * worker starts once the shape server is active (as under `pnpm start`, where shape-sync is up
 * before the webapp). With `backend: "native"` the run feeds are served natively
 * (docs/decisions/073-realtime-notifier-backend.md) and no shape server runs: ELECTRIC_ORIGIN points
 * at a port nothing listens on.
 */
export async function startDashboard(
  options: { worker?: boolean; backend?: "electric" | "native"; env?: Record<string, string> } = {},
): Promise<DashboardFixture> {
  const backend = options.backend ?? "electric";
  const port = await freePort();
  const app = await startTestWebapp({
    NODE_ENV: "production",
    ELECTRIC_ORIGIN: `http://127.0.0.1:${port}`,
    WORKER_ENABLED: "false",
    REALTIME_BACKEND: backend,
    ...options.env,
  });
  let shapeSync: ShapeSync | undefined;
  try {
    if (backend === "electric")
      shapeSync = await spawnShapeSync({
        databaseUrl: app.database.url,
        port,
        logLevel: process.env.SHAPE_SYNC_LOG_LEVEL,
      });
  } catch (error) {
    await app.close();
    throw error;
  }
  if (options.worker) {
    const { services } = app.webapp;
    const worker = createWorker({ ...services, signals: services.runSignals, apiBaseURL: app.url });
    services.worker = worker;
    worker.start();
    services.onClose(() => worker.stop());
  }
  const user = await seedDemoUser(app.webapp.services.prisma, {
    organizationIds: [app.project.organizationId],
    email: "tester@runfeed.dev",
    password: "correct horse battery staple",
  });
  return {
    app,
    shapeSync,
    user,
    async close() {
      await app.close().catch(() => {});
      await shapeSync?.stop();
    },
  };
}

/**
 * A form POST as the app's own page sends it: urlencoded, with the app's Origin (override with
 * `headers`, e.g. `{ origin: "https://evil.example" }`), redirects not followed.
 */
export function postForm(
  url: string,
  path: string,
  fields: Record<string, string | string[]>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const v of [value].flat()) body.append(name, v);
  return fetch(`${url}${path}`, { method: "POST", headers: { origin: url, ...headers }, body, redirect: "manual" });
}

/** The `name=value` a Set-Cookie header sets, if any. */
export const cookieOf = (response: Response) => response.headers.get("set-cookie")?.split(";")[0];

/** Signs in over HTTP; returns the session cookie. */
export async function signIn(
  url: string,
  email: string,
  password: string,
  headers: Record<string, string> = {},
): Promise<string> {
  const response = await postForm(url, "/login", { email, password, redirectTo: "/" }, headers);
  if (response.status !== 302) throw new Error(`sign-in answered ${response.status}`);
  const cookie = cookieOf(response);
  if (!cookie) throw new Error("sign-in set no cookie");
  return cookie;
}

export { BrowserProblems, launchChromium } from "@runfeed/devstack/browser";

export const ARTIFACTS_DIR = fileURLToPath(new URL("../../test-results/", import.meta.url));
