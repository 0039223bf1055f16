/**
 * The realtime feed tests run once per backend (docs/decisions/073-realtime-notifier-backend.md):
 * `electric` through the in-process shape server, `native` with no shape server at all
 * (ELECTRIC_ORIGIN points at a closed port).
 */
import type { Services } from "../../app/services/services.server.js";
import { startWebappWithShapeServer } from "./shapeServer.js";
import { startTestWebapp, type TestWebapp } from "./webapp.js";

export const REALTIME_BACKENDS = ["electric", "native"] as const;
export type TestedBackend = (typeof REALTIME_BACKENDS)[number];

export interface RealtimeStack {
  app: TestWebapp;
  close(): Promise<void>;
}

export async function startRealtimeStack(
  backend: TestedBackend,
  overrides: Record<string, string> = {},
): Promise<RealtimeStack> {
  if (backend === "electric") return startWebappWithShapeServer({ ...overrides, REALTIME_BACKEND: "electric" });
  const app = await startTestWebapp({
    ...overrides,
    REALTIME_BACKEND: "native",
    ELECTRIC_ORIGIN: "http://127.0.0.1:9",
  });
  return { app, close: () => app.close() };
}

interface ChangedRun {
  id: string;
  runtimeEnvironmentId: string;
  runTags?: string[] | null;
  batchId?: string | null;
}

/** After a test's own write to a run, the signal every write path publishes after its commit. */
export function runChanged(services: Services, run: ChangedRun): void {
  services.runSignals.publishRunChanged({
    runId: run.id,
    environmentId: run.runtimeEnvironmentId,
    tags: run.runTags,
    batchId: run.batchId,
  });
}
