/**
 * Dashboard test support: a real shape server (apps/shape-sync as a child process, as the start
 * command runs it), sign-in over HTTP, and Chromium.
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import getPort from "get-port";
import { chromium, type Browser } from "playwright-core";
import { seedDemoUser } from "../../app/services/seed.server.js";
import { createWorker } from "../../app/services/worker.server.js";
import { startTestWebapp, type TestWebapp } from "../support/webapp.js";

const REPO_ROOT = fileURLToPath(new URL("../../../../", import.meta.url));

export interface ShapeSync {
  origin: string;
  stop(): Promise<void>;
}

export async function startShapeSync(databaseUrl: string, port: number): Promise<ShapeSync> {
  const storageDir = await mkdtemp(path.join(tmpdir(), "runfeed-shape-sync-"));
  const child = spawn(path.join(REPO_ROOT, "node_modules/.bin/tsx"), ["apps/shape-sync/src/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      ELECTRIC_PORT: String(port),
      ELECTRIC_INSECURE: "true",
      ELECTRIC_STORAGE_DIR: storageDir,
      ELECTRIC_REPLICATION_STREAM_ID: `dash_${randomBytes(4).toString("hex")}`,
      LOG_LEVEL: process.env.SHAPE_SYNC_LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const origin = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
    await rm(storageDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`shape-sync exited with ${child.exitCode}`);
    try {
      const response = await fetch(`${origin}/v1/health`);
      if (response.ok && ((await response.json()) as { status?: string }).status === "active") break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error("shape-sync did not become active within 30 s");
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { origin, stop };
}

export interface DashboardFixture {
  app: TestWebapp;
  shapeSync: ShapeSync;
  user: { email: string; password: string };
  close(): Promise<void>;
}

/**
 * A webapp in front of a real shape server, with a signed-up user of the test org. With
 * `worker: true` the example worker starts once the shape server is active (as under `pnpm start`,
 * where shape-sync is up before the webapp).
 */
export async function startDashboard(options: { worker?: boolean; env?: Record<string, string> } = {}): Promise<DashboardFixture> {
  const port = await getPort();
  const app = await startTestWebapp({ ELECTRIC_ORIGIN: `http://127.0.0.1:${port}`, WORKER_ENABLED: "false", ...options.env });
  let shapeSync: ShapeSync;
  try {
    shapeSync = await startShapeSync(app.database.url, port);
  } catch (error) {
    await app.close();
    throw error;
  }
  if (options.worker) {
    const { services } = app.webapp;
    const worker = createWorker(services);
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
      await shapeSync.stop();
    },
  };
}

/** Signs in over HTTP; returns the session cookie. */
export async function signIn(url: string, email: string, password: string): Promise<string> {
  const response = await fetch(`${url}/login`, {
    method: "POST",
    body: new URLSearchParams({ email, password, redirectTo: "/" }),
    redirect: "manual",
  });
  if (response.status !== 302) throw new Error(`sign-in answered ${response.status}`);
  const cookie = response.headers.get("set-cookie");
  if (!cookie) throw new Error("sign-in set no cookie");
  return cookie.split(";")[0]!;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

export const ARTIFACTS_DIR = fileURLToPath(new URL("../../test-results/", import.meta.url));
