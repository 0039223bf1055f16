/**
 * Where a native feed's rows come from: the shared resolution of its filter (runSetCache), the signal
 * channel that says it moved, and the digest of its definition (docs/decisions/073-realtime-notifier-backend.md).
 *
 * A tag feed resolves from its createdAt floor rounded down to REALTIME_NOTIFIER_RUNSET_CREATED_AT_BUCKET_MS,
 * so feeds of one tag opened within the same bucket share one resolution; each keeps only the rows after
 * its own floor, so it answers exactly what the shape path would.
 */
import type { RealtimeFeed } from "../shapeRewrite.server";
import type { RunSetCache } from "./runSetCache.server";
import { definitionDigest } from "./feedState.server";
import { type RunRow, type RunRows, timestampMs } from "./runRows.server";
import type { RunSignals } from "./runSignals.server";

export interface NativeDeps {
  signals: RunSignals;
  rows: RunRows;
  /** Tag and batch resolutions, shared for REALTIME_NOTIFIER_RUNSET_CACHE_TTL_MS. */
  runSets: RunSetCache<RunRow[]>;
  /** Single-run hydrations, shared by requests woken by the same signal. */
  runs: RunSetCache<RunRow[]>;
  maxListResults: number;
  createdAtBucketMs: number;
}

export interface FeedSource {
  kind: "run" | "set";
  digest: string;
  channel: string;
  /** The feed's rows now (at most maxListResults), newest first. */
  read(): Promise<RunRow[]>;
}

type RowFeed = Exclude<RealtimeFeed, { kind: "logs" }>;

export function feedSource(
  deps: NativeDeps,
  environmentId: string,
  feed: RowFeed,
  columns: readonly string[],
  floor: Date | undefined,
): FeedSource {
  const { signals, rows, maxListResults } = deps;
  switch (feed.kind) {
    case "run": {
      const key = `${environmentId}\0${feed.runId}`;
      return {
        kind: "run",
        digest: definitionDigest(["run", environmentId, feed.runId, columns]),
        channel: signals.runChannel(feed.runId),
        read: () =>
          deps.runs.get(key, signals.runChannel(feed.runId), async () => {
            const row = await rows.byId(environmentId, feed.runId);
            return row ? [row] : [];
          }),
      };
    }
    case "batch": {
      const channel = signals.batchChannel(feed.batchId);
      return {
        kind: "set",
        digest: definitionDigest(["batch", environmentId, feed.batchId, columns]),
        channel,
        read: () =>
          deps.runSets.get(`batch\0${environmentId}\0${feed.batchId}`, channel, () =>
            rows.byBatch(environmentId, feed.batchId, maxListResults),
          ),
      };
    }
    case "tags": {
      const exact = floor ?? new Date(0);
      const bucketed = new Date(Math.floor(exact.getTime() / deps.createdAtBucketMs) * deps.createdAtBucketMs);
      const tags = [...new Set(feed.tags)].sort();
      // Every run of the feed carries every tag: any one tag's channel hears all of them.
      const channel =
        tags.length > 0 ? signals.tagChannel(environmentId, tags[0]!) : signals.environmentChannel(environmentId);
      const key = `tags\0${environmentId}\0${JSON.stringify(tags)}\0${bucketed.getTime()}`;
      const floorMs = exact.getTime();
      return {
        kind: "set",
        digest: definitionDigest(["tags", environmentId, tags, columns]),
        channel,
        read: async () => {
          const all = await deps.runSets.get(key, channel, () =>
            rows.byTags(environmentId, tags, bucketed, maxListResults),
          );
          return all.filter((row) => timestampMs(row.createdAt) > floorMs);
        },
      };
    }
  }
}
