/**
 * The realtime feeds (contract §1.2), each a RunSubscription against `{baseURL}/realtime/v1/…`: one run,
 * runs by tag, a batch, and every run of the token's environment.
 */
import type { RealtimeRunSkipColumn } from "./public-types.js";
import { apiUrl, resolveConfig, type RequestOptions } from "./config.js";
import type { RealtimeRun } from "./run.js";
import { RunSubscription } from "./subscription.js";
import { read as readStream } from "./streams.js";
import type { TokenRefusedHandler } from "./token.js";
import {
  API_VERSION_HEADER,
  CREATED_AT_PARAM,
  SKIP_COLUMNS_PARAM,
  TAGS_PARAM,
  TRIGGER_API_VERSION,
} from "@runfeed/core";

export type { RealtimeRunSkipColumn };

/**
 * Status-only: everything but the status, the timestamps and the task. Small rows for dashboards
 * and progress pills; `payload`, `output`, `metadata`, `error` and `tags` are then undefined/empty.
 * `completedAt` is kept, so a single-run subscription still ends on completion.
 */
export const STATUS_ONLY_SKIP_COLUMNS: readonly RealtimeRunSkipColumn[] = [
  "payload",
  "payloadType",
  "output",
  "outputType",
  "metadata",
  "metadataType",
  "error",
  "ttl",
  "runTags",
  "realtimeStreams",
  "number",
  "isTest",
  "usageDurationMs",
  "costInCents",
  "baseCostInCents",
];

export type SkipColumnsOption = readonly RealtimeRunSkipColumn[] | "status-only";

export interface SubscribeOptions extends RequestOptions {
  /** Columns not to stream, or "status-only" (STATUS_ONLY_SKIP_COLUMNS). */
  skipColumns?: SkipColumnsOption;
  /**
   * Called when the server refuses the token (401: it expired, or its key was rolled); return a fresh
   * one and the feed resumes from its last offset, without sending any run again. Without it, a
   * refused token ends the feed with an `AuthenticationError`.
   */
  onTokenRefused?: TokenRefusedHandler;
}

export interface SubscribeToRunOptions extends SubscribeOptions {
  /** End the subscription once the run has finished (finishedAt set). Default true. */
  stopOnCompletion?: boolean;
}

export interface SubscribeToRunsWithTagOptions extends SubscribeOptions {
  /** Only runs created within this window, e.g. "1h", "2d" (server default and cap: 24h). */
  createdAt?: string;
}

export interface SubscribeToRunsOptions extends SubscribeOptions {
  /** Only runs created within this window, e.g. "15m", "1h" (server default and cap: 24h). */
  createdAt?: string;
  /** Only runs carrying all of these tags. */
  tags?: string | readonly string[];
}

const skipParam = (skip: SkipColumnsOption | undefined) => {
  const columns = skip === "status-only" ? STATUS_ONLY_SKIP_COLUMNS : skip;
  return columns && columns.length > 0 ? columns.join(",") : undefined;
};

function open<TRun extends RealtimeRun<any, any, any>>(
  path: string,
  params: Record<string, string | undefined>,
  options: SubscribeOptions,
  stopOnCompletion: boolean,
): RunSubscription<TRun> {
  const config = resolveConfig(options);
  return new RunSubscription<TRun>({
    url: apiUrl(config, path, params),
    accessToken: config.accessToken,
    headers: { [API_VERSION_HEADER]: TRIGGER_API_VERSION },
    onTokenRefused: options.onTokenRefused,
    signal: options.signal,
    fetch: config.fetch,
    stopOnCompletion,
    openStream: (runId, key, signal, accessToken) =>
      readStream(runId, key, { baseURL: config.baseURL, accessToken, signal }),
  });
}

/**
 * Watches one run. Emits the run on every change; ends by itself after the run finishes.
 *
 * @example
 * ```ts
 * for await (const run of runs.subscribeToRun(runId, { accessToken: publicToken })) {
 *   console.log(run.status, run.metadata?.progress);
 * }
 * ```
 */
export function subscribeToRun<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  runId: string,
  options: SubscribeToRunOptions = {},
): RunSubscription<TRun> {
  return open<TRun>(
    `/realtime/v1/runs/${encodeURIComponent(runId)}`,
    { [SKIP_COLUMNS_PARAM]: skipParam(options.skipColumns) },
    options,
    options.stopOnCompletion ?? true,
  );
}

/** Watches every run carrying all of `tags` (created within `createdAt`). Never ends by itself. */
export function subscribeToRunsWithTag<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  tags: string | readonly string[],
  options: SubscribeToRunsWithTagOptions = {},
): RunSubscription<TRun> {
  const list = typeof tags === "string" ? [tags] : tags;
  return open<TRun>(
    "/realtime/v1/runs",
    {
      [TAGS_PARAM]: list.join(","),
      [CREATED_AT_PARAM]: options.createdAt,
      [SKIP_COLUMNS_PARAM]: skipParam(options.skipColumns),
    },
    options,
    false,
  );
}

/**
 * Watches every run of the environment the token belongs to (created within `createdAt`, 24 h at
 * most), optionally narrowed to `tags`. Needs a token that may read all runs (`read:runs`, a secret
 * key…). Never ends by itself; collect the runs with `RecentRuns` for a newest-first, bounded list.
 *
 * @example
 * ```ts
 * const recent = new RecentRuns({ limit: 50 });
 * for await (const run of runs.subscribeToRuns({ accessToken, createdAt: "1h", onTokenRefused: fetchToken })) {
 *   recent.apply(run);
 *   render(recent.runs);
 * }
 * ```
 */
export function subscribeToRuns<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  options: SubscribeToRunsOptions = {},
): RunSubscription<TRun> {
  const tags = typeof options.tags === "string" ? [options.tags] : (options.tags ?? []);
  return open<TRun>(
    "/realtime/v1/runs",
    {
      [TAGS_PARAM]: tags.length > 0 ? tags.join(",") : undefined,
      [CREATED_AT_PARAM]: options.createdAt,
      [SKIP_COLUMNS_PARAM]: skipParam(options.skipColumns),
    },
    options,
    false,
  );
}

/** Watches every run of a batch, including runs created after subscribing. Never ends by itself. */
export function subscribeToBatch<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  batchId: string,
  options: SubscribeOptions = {},
): RunSubscription<TRun> {
  return open<TRun>(
    `/realtime/v1/batches/${encodeURIComponent(batchId)}`,
    { [SKIP_COLUMNS_PARAM]: skipParam(options.skipColumns) },
    options,
    false,
  );
}
