/**
 * A test webapp whose realtime routes reach apps/shape-sync, run as a child process (devstack's
 * spawnShapeSync, as `pnpm start` runs it) on the webapp's own test database: the feed end to end,
 * webapp → shape server → Postgres logical replication.
 */
import { freePort, spawnShapeSync, type ShapeSyncProcess } from "@runfeed/devstack";
import { startTestWebapp, type TestWebapp } from "./webapp.js";

export interface WebappWithShapeServer {
  app: TestWebapp;
  shape: ShapeSyncProcess;
  /** Stops the shape server and the webapp (the shape logs go with the shape server). */
  close(): Promise<void>;
}

export async function startWebappWithShapeServer(
  overrides: Record<string, string> = {},
): Promise<WebappWithShapeServer> {
  let shape: ShapeSyncProcess | undefined;
  try {
    const app = await startTestWebapp(overrides, {
      beforeStart: async (database) => {
        const port = await freePort();
        shape = await spawnShapeSync({ databaseUrl: database.url, port });
        return { ELECTRIC_ORIGIN: shape.origin };
      },
    });
    return {
      app,
      shape: shape!,
      async close() {
        await shape?.stop();
        await app.close();
      },
    };
  } catch (error) {
    await shape?.stop();
    throw error;
  }
}
