/**
 * React hooks over @runfeed/sdk subscriptions: thin useSyncExternalStore adapters (style.md rule 5).
 * No request is made after the run finished, after stop(), or after unmount.
 */
import { createContext, useContext, useEffect, useRef, useSyncExternalStore, type ReactNode } from "react";
import { runs as sdkRuns, type RealtimeRun, type RunSubscription, type SkipColumnsOption } from "@runfeed/sdk";
import { FeedStore } from "./feed-store.js";

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

function useFeed<TRun extends RealtimeRun<any, any, any>>(
  key: unknown[] | undefined,
  open: (config: { baseURL?: string; accessToken?: string }) => RunSubscription<TRun>,
  options: UseRealtimeOptions,
  onComplete?: (run: TRun) => void,
) {
  const context = useContext(RealtimeContext);
  const baseURL = options.baseURL ?? context.baseURL;
  const accessToken = options.accessToken ?? context.accessToken;
  const onCompleteRef = useRef(onComplete);
  useEffect(() => {
    onCompleteRef.current = onComplete;
  });

  const enabled = key !== undefined && (options.enabled ?? true);
  const storeKey = enabled ? JSON.stringify([baseURL, accessToken, ...key]) : "disabled";
  const ref = useRef<{ key: string; store: FeedStore<TRun> }>();
  if (!ref.current || ref.current.key !== storeKey) {
    const store = new FeedStore<TRun>({
      open: () => open({ baseURL, accessToken }),
      onComplete: (run) => onCompleteRef.current?.(run),
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
  return { run: snapshot.runs[0] as TRun | undefined, error: snapshot.error, stop };
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
  return { runs: snapshot.runs as TRun[], error: snapshot.error, stop };
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
  return { runs: snapshot.runs as TRun[], error: snapshot.error, stop };
}
