/**
 * A test webapp whose realtime routes reach apps/shape-sync, started in this process on the webapp's
 * own test database (the feed end to end: webapp → shape server → Postgres logical replication).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startShapeServer, type ShapeServer } from "../../../shape-sync/src/server.js";
import { startTestWebapp, type TestWebapp } from "./webapp.js";

export interface WebappWithShapeServer {
  app: TestWebapp;
  shape: ShapeServer;
  /** Stops the shape server and the webapp, and removes the shape logs. */
  close(): Promise<void>;
}

/** `name` tells this file's replication stream and shape-log folder from other files'. */
export async function startWebappWithShapeServer(
  name: string,
  overrides: Record<string, string> = {},
): Promise<WebappWithShapeServer> {
  const storageDir = mkdtempSync(join(tmpdir(), `runfeed-${name}-test-`));
  let shape: ShapeServer | undefined;
  const stop = async () => {
    await shape?.stop();
    rmSync(storageDir, { recursive: true, force: true });
  };
  try {
    const app = await startTestWebapp(overrides, {
      beforeStart: async (database) => {
        shape = await startShapeServer({
          databaseUrl: database.url,
          storageDir,
          port: 0,
          host: "127.0.0.1",
          replicationStreamId: `${name}${randomBytes(4).toString("hex")}`,
          longPollTimeoutMs: 20_000,
          logLevel: "warn",
        });
        await shape.ready;
        return { ELECTRIC_ORIGIN: shape.url };
      },
    });
    return {
      app,
      shape: shape!,
      async close() {
        await shape?.stop();
        await app.close();
        rmSync(storageDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
