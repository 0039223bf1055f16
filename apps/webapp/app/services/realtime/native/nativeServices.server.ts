/**
 * Wiring of the native realtime backend's per-instance objects (docs/decisions/073-realtime-notifier-backend.md).
 * Nothing here connects anywhere until a native feed is served: the pool and the subscriber open on
 * first use.
 */
import type { WebappEnv } from "../../../env.server";
import type { Metrics } from "../../metrics.server";
import { SetFeedStates } from "./feedState.server";
import type { NativeDeps } from "./feedSource.server";
import { type RunRow, RunRows } from "./runRows.server";
import { RunSetCache } from "./runSetCache.server";
import type { RunSignals } from "./runSignals.server";

export interface NativeRealtime {
  deps: NativeDeps;
  rows: RunRows;
  states: SetFeedStates;
  livePollTimeoutMs: number;
  close(): Promise<void>;
}

export function createNativeRealtime(deps: { env: WebappEnv; signals: RunSignals; metrics: Metrics }): NativeRealtime {
  const { env, signals, metrics } = deps;
  const rows = new RunRows({ databaseUrl: env.DATABASE_URL });
  const generation = (channel: string) => signals.generation(channel);
  const runSets = new RunSetCache<RunRow[]>({
    ttlMs: env.REALTIME_NOTIFIER_RUNSET_CACHE_TTL_MS,
    maxEntries: env.REALTIME_NOTIFIER_RUNSET_CACHE_MAX_ENTRIES,
    generation,
  });
  const runs = new RunSetCache<RunRow[]>({ ttlMs: 0, maxEntries: 100_000, generation });
  const states = new SetFeedStates({ maxEntries: env.REALTIME_NOTIFIER_WORKING_SET_MAX_ENTRIES });
  metrics.sources.nativeQueries = () => rows.queries;
  metrics.sources.nativeWorkingSets = () => states.size;
  return {
    deps: {
      signals,
      rows,
      runSets,
      runs,
      maxListResults: env.REALTIME_NOTIFIER_MAX_LIST_RESULTS,
      createdAtBucketMs: env.REALTIME_NOTIFIER_RUNSET_CREATED_AT_BUCKET_MS,
    },
    rows,
    states,
    livePollTimeoutMs: env.REALTIME_NOTIFIER_LIVE_POLL_TIMEOUT_MS,
    close: () => rows.close(),
  };
}
