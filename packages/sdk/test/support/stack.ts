/**
 * The running stack for SDK integration tests: a real webapp (own database, Redis prefix, seeded
 * project) in front of a real apps/shape-sync over logical replication. The example worker is off at
 * start, so runs stay QUEUED until a test starts it (`startWorker()`), which then drives them
 * PENDING → EXECUTING → COMPLETED through the product's own code. Test-only imports of the webapp.
 */
import { freePort, spawnShapeSync, type ShapeSyncProcess as ShapeSync } from "../../../devstack/src/index.js";
import { startTestWebapp, type TestWebapp } from "../../../../apps/webapp/test/support/webapp.js";
import { createWorker } from "../../../../apps/webapp/app/worker/createWorker.server.js";

export interface Stack {
  app: TestWebapp;
  shapeSync: ShapeSync;
  baseURL: string;
  /** The dev environment's root secret key. */
  secretKey: string;
  startWorker(): void;
  /** Stops the worker (runs triggered afterwards stay QUEUED). */
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

export async function startStack(overrides: Record<string, string> = {}): Promise<Stack> {
  const port = await freePort();
  const app = await startTestWebapp({
    ELECTRIC_ORIGIN: `http://127.0.0.1:${port}`,
    WORKER_ENABLED: "false",
    ...overrides,
  });
  let shapeSync: ShapeSync;
  try {
    shapeSync = await spawnShapeSync({ databaseUrl: app.database.url, port });
  } catch (error) {
    await app.close();
    throw error;
  }
  let worker: ReturnType<typeof createWorker> | undefined;
  return {
    app,
    shapeSync,
    baseURL: app.url,
    secretKey: app.project.environments[0]!.apiKey,
    startWorker() {
      if (worker) return;
      worker = createWorker({ ...app.webapp.services, apiBaseURL: app.url });
      worker.start();
    },
    async stopWorker() {
      const running = worker;
      worker = undefined;
      await running?.stop();
    },
    async close() {
      await worker?.stop();
      await app.close().catch(() => {});
      await shapeSync.stop();
    },
  };
}
