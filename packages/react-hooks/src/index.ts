/** @runfeed/react-hooks — React hooks that watch runfeed (and Trigger.dev) runs live. */
export {
  RunfeedProvider,
  useRealtimeRun,
  useRealtimeRunsWithTag,
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
} from "./hooks.js";
export { FeedStore, type FeedSnapshot, type FeedStoreOptions } from "./feed-store.js";
export { IterableStore, type IterableSnapshot, type IterableStoreOptions } from "./iterable-store.js";
export type { RealtimeRun, RunLogLine, RunStatus, SkipColumnsOption } from "@runfeed/sdk";
export { mergeRunLogLines } from "@runfeed/sdk";
