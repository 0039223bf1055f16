/**
 * React hooks over @runfeed/sdk subscriptions: thin useSyncExternalStore adapters (style.md rule 5).
 * No request is made after the run finished, after stop(), or after unmount.
 */
import { createContext, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from "react";
import {
  DEFAULT_RECENT_RUNS_LIMIT,
  mergeRunLogLines,
  runs as sdkRuns,
  streams as sdkStreams,
  type RealtimeRun,
  type RunLogLine,
  type RunSubscription,
  type RunWithStreamsPart,
  type SkipColumnsOption,
  type StreamPart,
  type TokenRefusedHandler,
} from "@runfeed/sdk";
import { FeedStore } from "./feed-store.js";
import { IterableStore } from "./iterable-store.js";

export interface RealtimeConfig {
  baseURL?: string;
  accessToken?: string;
}

const RealtimeContext = createContext<RealtimeConfig>({});

/** Provides `baseURL` and `accessToken` to every hook below it (hook options override them). */
export function RunfeedProvider({ baseURL, accessToken, children }: RealtimeConfig & { children?: ReactNode }) {
  const parent = useContext(RealtimeContext);
  return (
    <RealtimeContext.Provider
      value={{ baseURL: baseURL ?? parent.baseURL, accessToken: accessToken ?? parent.accessToken }}
    >
      {children}
    </RealtimeContext.Provider>
  );
}

export interface UseRealtimeOptions extends RealtimeConfig {
  /** Subscribe only when true (default true). Useful while a token is being fetched. */
  enabled?: boolean;
  skipColumns?: SkipColumnsOption;
  /**
   * Returns a fresh token when the server refuses the current one (401: expired, key rolled); the
   * feed resumes where it was, without resending runs. Its identity may change between renders.
   */
  onTokenRefused?: TokenRefusedHandler;
  /**
   * Live updates over server-sent events (one held stream), with the Electric client's fallback to
   * long-polling where streams are cut short. Default true; false long-polls from the start.
   */
  liveSse?: boolean;
}

export interface UseRealtimeRunOptions<TRun extends RealtimeRun<any, any, any> = RealtimeRun>
  extends UseRealtimeOptions {
  /** Stop once the run finished (default true). */
  stopOnCompletion?: boolean;
  /** Called exactly once, when the run has finished (finishedAt set). */
  onComplete?: (run: TRun) => void;
}

export interface UseRealtimeRunsWithTagOptions extends UseRealtimeOptions {
  /** Only runs created within this window, e.g. "1h" (server default and cap 24h). */
  createdAt?: string;
}

export interface UseRealtimeRunsOptions extends UseRealtimeOptions {
  /** Only runs created within this window, e.g. "15m", "1h" (server default and cap 24h). */
  createdAt?: string;
  /** Only runs carrying all of these tags (default: every run of the environment). */
  tags?: string | readonly string[];
  /** How many runs to keep, newest first (default 100). */
  limit?: number;
}

interface FeedConfig {
  baseURL?: string;
  accessToken?: string;
  onTokenRefused?: TokenRefusedHandler;
  liveSse?: boolean;
}

function useFeed<TRun extends RealtimeRun<any, any, any>>(
  key: unknown[] | undefined,
  open: (config: FeedConfig) => RunSubscription<TRun>,
  options: UseRealtimeOptions,
  onComplete?: (run: TRun) => void,
  limit?: number,
) {
  const context = useContext(RealtimeContext);
  const baseURL = options.baseURL ?? context.baseURL;
  const accessToken = options.accessToken ?? context.accessToken;
  const onCompleteRef = useRef(onComplete);
  const onTokenRefusedRef = useRef(options.onTokenRefused);
  useEffect(() => {
    onCompleteRef.current = onComplete;
    onTokenRefusedRef.current = options.onTokenRefused;
  });
  const renews = options.onTokenRefused !== undefined;
  const liveSse = options.liveSse ?? true;

  const enabled = key !== undefined && (options.enabled ?? true);
  const storeKey = enabled ? JSON.stringify([baseURL, accessToken, renews, liveSse, limit, ...key]) : "disabled";
  const ref = useRef<{ key: string; store: FeedStore<TRun> }>();
  if (!ref.current || ref.current.key !== storeKey) {
    const store = new FeedStore<TRun>({
      open: () =>
        open({
          baseURL,
          accessToken,
          onTokenRefused: renews ? (error) => onTokenRefusedRef.current?.(error) : undefined,
          // An open stream ends when its token is refused (expiry, rolled key: the server re-checks it),
          // and the reconnect's 401 goes to onTokenRefused like a long-poll's.
          liveSse,
        }),
      onComplete: (run) => onCompleteRef.current?.(run),
      limit,
    });
    if (!enabled) store.stop();
    ref.current = { key: storeKey, store };
  }
  const store = ref.current.store;
  const snapshot = useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return { snapshot, stop: store.stop };
}

const skipKey = (skip: SkipColumnsOption | undefined) => (typeof skip === "string" ? skip : skip?.join(","));

/**
 * Watches one run. `run` is undefined until the first response.
 *
 * @example
 * ```tsx
 * const { run, error } = useRealtimeRun(runId, { accessToken: publicToken, baseURL });
 * return <p>{run?.status ?? "connecting"}</p>;
 * ```
 */
export function useRealtimeRun<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  runId: string | undefined,
  options: UseRealtimeRunOptions<TRun> = {},
) {
  const stopOnCompletion = options.stopOnCompletion ?? true;
  const { snapshot, stop } = useFeed<TRun>(
    runId ? ["run", runId, stopOnCompletion, skipKey(options.skipColumns)] : undefined,
    (config) => sdkRuns.subscribeToRun<TRun>(runId!, { ...config, stopOnCompletion, skipColumns: options.skipColumns }),
    options,
    options.onComplete,
  );
  return { run: snapshot.runs[0] as TRun | undefined, error: snapshot.error, connection: snapshot.connection, stop };
}

/** Watches every run carrying all of `tags`. */
export function useRealtimeRunsWithTag<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  tags: string | readonly string[] | undefined,
  options: UseRealtimeRunsWithTagOptions = {},
) {
  const list = tags === undefined ? undefined : typeof tags === "string" ? [tags] : [...tags];
  const { snapshot, stop } = useFeed<TRun>(
    list && list.length > 0 ? ["tags", list.join(","), options.createdAt, skipKey(options.skipColumns)] : undefined,
    (config) =>
      sdkRuns.subscribeToRunsWithTag<TRun>(list!, {
        ...config,
        createdAt: options.createdAt,
        skipColumns: options.skipColumns,
      }),
    options,
  );
  return { runs: snapshot.runs as TRun[], error: snapshot.error, connection: snapshot.connection, stop };
}

/**
 * Watches every run of the environment the token belongs to (or of `tags`), created within
 * `createdAt`: the newest `limit` runs, newest first, each replaced as it changes. The token must
 * read all runs (`read:runs`). `connection` says whether the table is live.
 *
 * @example
 * ```tsx
 * const { runs, connection } = useRealtimeRuns({ accessToken, baseURL, createdAt: "1h", limit: 50,
 *   onTokenRefused: () => fetch("/token").then((r) => r.text()) });
 * return <RunTable runs={runs} live={connection === "live"} />;
 * ```
 */
export function useRealtimeRuns<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  options: UseRealtimeRunsOptions = {},
) {
  const tags = typeof options.tags === "string" ? [options.tags] : [...(options.tags ?? [])];
  const limit = options.limit ?? DEFAULT_RECENT_RUNS_LIMIT;
  const { snapshot, stop } = useFeed<TRun>(
    ["runs", tags.join(","), options.createdAt, skipKey(options.skipColumns)],
    (config) =>
      sdkRuns.subscribeToRuns<TRun>({
        ...config,
        tags,
        createdAt: options.createdAt,
        skipColumns: options.skipColumns,
        limit,
      }),
    options,
    undefined,
    limit,
  );
  return { runs: snapshot.runs as TRun[], error: snapshot.error, connection: snapshot.connection, stop };
}

/** Watches every run of a batch, including runs created after subscribing. */
export function useRealtimeBatch<TRun extends RealtimeRun<any, any, any> = RealtimeRun>(
  batchId: string | undefined,
  options: UseRealtimeOptions = {},
) {
  const { snapshot, stop } = useFeed<TRun>(
    batchId ? ["batch", batchId, skipKey(options.skipColumns)] : undefined,
    (config) => sdkRuns.subscribeToBatch<TRun>(batchId!, { ...config, skipColumns: options.skipColumns }),
    options,
  );
  return { runs: snapshot.runs as TRun[], error: snapshot.error, connection: snapshot.connection, stop };
}

export interface UseRealtimeStreamOptions extends RealtimeConfig {
  /** Subscribe only when true (default true). */
  enabled?: boolean;
  /** Resume after this chunk id instead of reading from the start. */
  lastEventId?: string;
  /** Without lastEventId: "latest" reads only chunks written after connecting. */
  from?: "start" | "latest";
  /** Keep only the last `maxParts` chunks (long streams). */
  maxParts?: number;
  /** Render at most once per this many ms (default 16). */
  throttleInMs?: number;
}

interface StreamValue<T> {
  parts: readonly T[];
  lastEventId: string | undefined;
}

/** The same store for the same key across renders; a new key (or options) opens a new one. */
function useIterableStore<S, P>(key: string | undefined, create: () => IterableStore<S, P>) {
  const ref = useRef<{ key: string; store: IterableStore<S, P> }>();
  const storeKey = key ?? "disabled";
  if (!ref.current || ref.current.key !== storeKey) {
    const store = create();
    if (key === undefined) store.stop();
    ref.current = { key: storeKey, store };
  }
  const store = ref.current.store;
  return { snapshot: useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot), stop: store.stop };
}

/**
 * Reads one realtime stream of a run: every chunk from the start, then live, until the stream ends
 * (its run finished). `parts` grows as chunks arrive; a remount resumes after the last one.
 *
 * @example
 * ```tsx
 * const { parts, error } = useRealtimeStream<string>(runId, "llm", { accessToken, baseURL });
 * return <p>{parts.join("")}</p>;
 * ```
 */
export function useRealtimeStream<T = unknown>(
  runId: string | undefined,
  streamKeyOrOptions?: string | UseRealtimeStreamOptions,
  maybeOptions: UseRealtimeStreamOptions = {},
) {
  const key = typeof streamKeyOrOptions === "string" ? streamKeyOrOptions : "default";
  const options = typeof streamKeyOrOptions === "object" ? streamKeyOrOptions : maybeOptions;
  const context = useContext(RealtimeContext);
  const baseURL = options.baseURL ?? context.baseURL;
  const accessToken = options.accessToken ?? context.accessToken;
  const enabled = runId !== undefined && (options.enabled ?? true);
  const { snapshot, stop } = useIterableStore<StreamValue<T>, StreamPart<T>>(
    enabled ? JSON.stringify([baseURL, accessToken, runId, key, options.lastEventId, options.from]) : undefined,
    () =>
      new IterableStore<StreamValue<T>, StreamPart<T>>({
        initial: { parts: [], lastEventId: options.lastEventId },
        throttleMs: options.throttleInMs,
        open: (current, signal) =>
          sdkStreams
            .read<T>(runId!, key, {
              baseURL,
              accessToken,
              signal,
              lastEventId: current.lastEventId,
              from: options.from,
            })
            .parts(),
        fold: (value, items) => {
          const parts = [...value.parts, ...items.map((item) => item.chunk)];
          const max = options.maxParts;
          return {
            parts: max !== undefined && parts.length > max ? parts.slice(parts.length - max) : parts,
            lastEventId: items.at(-1)?.id || value.lastEventId,
          };
        },
      }),
  );
  return { parts: snapshot.value.parts as T[], lastEventId: snapshot.value.lastEventId, error: snapshot.error, stop };
}

interface RunWithStreamsValue<TRun, TStreams extends Record<string, unknown>> {
  run: TRun | undefined;
  streams: { [K in keyof TStreams]?: TStreams[K][] };
}

/**
 * Watches one run and reads each of its realtime streams as it appears: `run` as it changes,
 * `streams[key]` the chunks of each stream so far. Ends once the run finished and its streams ended.
 *
 * @example
 * ```tsx
 * const { run, streams } = useRealtimeRunWithStreams<RealtimeRun, { llm: string }>(runId, { accessToken, baseURL });
 * return <p>{run?.status}: {(streams.llm ?? []).join("")}</p>;
 * ```
 */
export function useRealtimeRunWithStreams<
  TRun extends RealtimeRun<any, any, any> = RealtimeRun,
  TStreams extends Record<string, unknown> = Record<string, unknown>,
>(runId: string | undefined, options: UseRealtimeOptions & { throttleInMs?: number } = {}) {
  const context = useContext(RealtimeContext);
  const baseURL = options.baseURL ?? context.baseURL;
  const accessToken = options.accessToken ?? context.accessToken;
  const enabled = runId !== undefined && (options.enabled ?? true);
  const { snapshot, stop } = useIterableStore<RunWithStreamsValue<TRun, TStreams>, RunWithStreamsPart<TRun, TStreams>>(
    enabled
      ? JSON.stringify([baseURL, accessToken, runId, skipKey(options.skipColumns), options.liveSse ?? true])
      : undefined,
    () =>
      new IterableStore<RunWithStreamsValue<TRun, TStreams>, RunWithStreamsPart<TRun, TStreams>>({
        initial: { run: undefined, streams: {} },
        throttleMs: options.throttleInMs,
        // A restart (remount) reads every stream again from its start.
        reset: (value) => ({ run: value.run, streams: {} }),
        open: (_current, signal) =>
          sdkRuns
            .subscribeToRun<TRun>(runId!, {
              baseURL,
              accessToken,
              signal,
              skipColumns: options.skipColumns,
              liveSse: options.liveSse ?? true,
            })
            .withStreams<TStreams>(),
        fold: (value, items) => {
          let run = value.run;
          const streams: Record<string, unknown[]> = { ...(value.streams as Record<string, unknown[]>) };
          for (const item of items) {
            if (item.type === "run") run = item.run;
            else {
              const part = item as { type: string; chunk: unknown };
              streams[part.type] = [...(streams[part.type] ?? []), part.chunk];
            }
          }
          return { run, streams: streams as RunWithStreamsValue<TRun, TStreams>["streams"] };
        },
      }),
  );
  return { run: snapshot.value.run, streams: snapshot.value.streams, error: snapshot.error, stop };
}

export interface UseRunLogsOptions extends RealtimeConfig {
  /** Subscribe only when true (default true). */
  enabled?: boolean;
  /** Keep only the last `maxLines` lines (chatty runs). */
  maxLines?: number;
  /** Render at most once per this many ms (default 16). */
  throttleInMs?: number;
}

/**
 * A run's log lines and events, live: every stored line first, then each new one, in order (time, then
 * the writer's sequence). Needs read on the run (the same token as `useRealtimeRun`).
 *
 * @example
 * ```tsx
 * const { lines, error } = useRunLogs(runId, { accessToken, baseURL });
 * return <ul>{lines.map((l) => <li key={l.id}>{l.level} {l.message}</li>)}</ul>;
 * ```
 */
export function useRunLogs(runId: string | undefined, options: UseRunLogsOptions = {}) {
  const context = useContext(RealtimeContext);
  const baseURL = options.baseURL ?? context.baseURL;
  const accessToken = options.accessToken ?? context.accessToken;
  const enabled = runId !== undefined && (options.enabled ?? true);
  const { snapshot, stop } = useIterableStore<readonly RunLogLine[], RunLogLine>(
    enabled ? JSON.stringify([baseURL, accessToken, runId]) : undefined,
    () =>
      new IterableStore<readonly RunLogLine[], RunLogLine>({
        initial: [],
        throttleMs: options.throttleInMs,
        // A restart reads the shape from the beginning again; the merge drops lines already held.
        open: (_current, signal) => sdkRuns.subscribeToLogs(runId!, { baseURL, accessToken, signal }),
        fold: (value, items) => {
          const lines = mergeRunLogLines(value, items);
          const max = options.maxLines;
          return max !== undefined && lines.length > max ? lines.slice(lines.length - max) : lines;
        },
      }),
  );
  return { lines: snapshot.value as RunLogLine[], error: snapshot.error, stop };
}
