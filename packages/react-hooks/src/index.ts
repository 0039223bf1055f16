/** @runfeed/react-hooks — React hooks that watch runfeed (and Trigger.dev) runs live. */
export {
  RunfeedProvider,
  useRealtimeRun,
  useRealtimeRunsWithTag,
  useRealtimeBatch,
  type RealtimeConfig,
  type UseRealtimeOptions,
  type UseRealtimeRunOptions,
  type UseRealtimeRunsWithTagOptions,
} from "./hooks.js";
export { FeedStore, type FeedSnapshot, type FeedStoreOptions } from "./feed-store.js";
export type { RealtimeRun, RunStatus, SkipColumnsOption } from "@runfeed/sdk";
