/**
 * @runfeed/sdk — trigger runs and watch them change live, from Node or the browser.
 * Speaks the Trigger.dev wire contract, so it works against runfeed and Trigger.dev servers.
 */
import { createPublicToken } from "./auth.js";
import { flushAll, forRun } from "./metadata.js";
import { readLogs, subscribeToLogs } from "./logs.js";
import { subscribeToBatch, subscribeToRun, subscribeToRuns, subscribeToRunsWithTag } from "./realtime.js";
import { batchTrigger, cancel, retrieve, trigger } from "./tasks.js";
import { append, appendText, input, pipe, read } from "./streams.js";

export { configure, getConfig, type ClientConfig, type RequestOptions } from "./config.js";

export const tasks = { trigger };
export const batch = { trigger: batchTrigger };
export const runs = {
  retrieve,
  cancel,
  subscribeToRun,
  subscribeToRuns,
  subscribeToRunsWithTag,
  subscribeToBatch,
  readLogs,
  subscribeToLogs,
};
export const auth = { createPublicToken };
export const metadata = { forRun, flush: flushAll };
export const streams = { pipe, append, appendText, read, input };

export type { TriggerOptions, TriggerResult, BatchItem, BatchTriggerResult, RetrievedRun } from "./tasks.js";
export type { CreatePublicTokenOptions, PublicTokenScopes } from "./auth.js";
export { RunMetadata, MetadataTarget, collapseOperations, type RunMetadataOptions } from "./metadata.js";
export type { MetadataOperation } from "./public-types.js";
export {
  STATUS_ONLY_SKIP_COLUMNS,
  type RealtimeRunSkipColumn,
  type SkipColumnsOption,
  type SubscribeOptions,
  type SubscribeToRunOptions,
  type SubscribeToRunsOptions,
  type SubscribeToRunsWithTagOptions,
} from "./realtime.js";
export type { TokenRefusedHandler } from "./token.js";
export { RecentRuns, DEFAULT_RECENT_RUNS_LIMIT, newestFirst, type RecentRunsOptions } from "./recent-runs.js";
export { RunSubscription, type SubscriptionObserver, type RunWithStreamsPart } from "./subscription.js";
export {
  StreamSubscription,
  StreamRetryDefaults,
  type StreamPart,
  type StreamSubscriptionOptions,
} from "./stream-subscription.js";
export {
  PipeDefaults,
  currentTaskRun,
  setTaskRunContextProvider,
  type InputStream,
  type PipeResult,
  type StreamReadOptions,
  type StreamWriteOptions,
  type TaskRunContext,
} from "./streams.js";
export {
  RunLogSubscription,
  RunLogFold,
  mergeRunLogLines,
  toRunLogLine,
  type RunLogLine,
  type RunLogKind,
  type RunLogLevel,
  type RunLogsOptions,
} from "./logs.js";
export type { SubscriptionState, ConnectionState } from "./subscription-state.js";
export { toRealtimeRun, type RealtimeRun, type RunStatus, type RunError, type RawRunRow } from "./run.js";
export {
  RunfeedError,
  ConfigurationError,
  ApiError,
  BadRequestError,
  AuthenticationError,
  PermissionDeniedError,
  NotFoundError,
  PayloadTooLargeError,
  UnprocessableEntityError,
  RateLimitError,
  InternalServerError,
  ConnectionError,
  MissingRealtimeHeadersError,
  RunParseError,
} from "./errors.js";
export { createFetchWithRetry, createFetchWithErrors, RetryDefaults, type RetryOptions } from "./fetch.js";
export {
  defineTask,
  type TaskDefinition,
  type TaskContext,
  type TaskLogger,
  type TaskRunInfo,
  type TaskStreams,
  type MetadataApi,
  type ChildBatchItem,
  type ChildRunResult,
} from "./task-definition.js";
