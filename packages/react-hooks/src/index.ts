/** @runfeed/react-hooks — React hooks that watch runfeed (and Trigger.dev) runs live. */
export {
  RunfeedProvider,
  useRealtimeRun,
  useRealtimeRunsWithTag,
  useRealtimeRuns,
  useRealtimeBatch,
  useRealtimeStream,
  useRealtimeRunWithStreams,
  useRunLogs,
  type UseRunLogsOptions,
  type UseRealtimeStreamOptions,
  type RealtimeConfig,
  type UseRealtimeOptions,
  type UseRealtimeRunOptions,
  type UseRealtimeRunsWithTagOptions,
  type UseRealtimeRunsOptions,
} from "./hooks.js";
export { FeedStore, type FeedSnapshot, type FeedStoreOptions } from "./feed-store.js";
export { IterableStore, type IterableSnapshot, type IterableStoreOptions } from "./iterable-store.js";
export type {
  ConnectionState,
  RealtimeRun,
  RunLogLine,
  RunStatus,
  SkipColumnsOption,
  TokenRefusedHandler,
} from "@runfeed/sdk";
export { mergeRunLogLines } from "@runfeed/sdk";
