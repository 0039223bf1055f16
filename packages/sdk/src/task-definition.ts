/**
 * The contract between task functions and the worker that runs them (runfeed's example worker):
 * a task module imports these types and `defineTask` from @runfeed/sdk, so it stays free of the
 * webapp, Prisma and env, and the worker is handed the tasks by the process that starts it.
 */
import type { RetryOptions } from "@runfeed/core";
export interface TaskRunInfo {
  /** Internal id. */
  id: string;
  /** Public id, `run_…`. */
  friendlyId: string;
  taskIdentifier: string;
  tags: string[];
  attempt: number;
}

export interface MetadataApi {
  /** The run's metadata as last read or written by this context. */
  current(): Record<string, unknown>;
  set(key: string, value: unknown): Promise<void>;
  increment(key: string, by?: number): Promise<void>;
  /** Replace the whole object. */
  replace(value: Record<string, unknown>): Promise<void>;
}

export interface ChildBatchItem {
  payload: unknown;
  tags?: string[];
}

export interface ChildRunResult {
  friendlyId: string;
  /** DB status name (COMPLETED_SUCCESSFULLY, COMPLETED_WITH_ERRORS, …). */
  status: string;
  output: unknown;
}

/**
 * The run's realtime streams (@runfeed/sdk `streams.*`, bound to this run and its own token): what
 * a browser or backend reads live with `streams.read` / `useRealtimeStream`.
 */
export interface TaskStreams {
  /** Sends every chunk of `source` to stream `key`, in order; resolves once all are stored. */
  pipe<T>(key: string, source: AsyncIterable<T>): Promise<{ chunks: number }>;
  /** Adds one chunk (any JSON value) to stream `key`. */
  append(key: string, value: unknown): Promise<void>;
  /** Data sent into this run (`POST /realtime/v1/streams/:runId/input/:key`). */
  input<T>(key: string): {
    once(options?: { timeoutMs?: number }): Promise<T>;
    on(handler: (data: T) => void): () => void;
  };
}

/**
 * The run's log (its "TaskRunLog" rows, shown live on the run page and read with `runs.subscribeToLogs`).
 * Lines are stored in the background, all of them before the run's outcome is recorded.
 */
export interface TaskLogger {
  trace(message: string, attributes?: Record<string, unknown>): void;
  debug(message: string, attributes?: Record<string, unknown>): void;
  log(message: string, attributes?: Record<string, unknown>): void;
  info(message: string, attributes?: Record<string, unknown>): void;
  warn(message: string, attributes?: Record<string, unknown>): void;
  error(message: string, attributes?: Record<string, unknown>): void;
  /** A named event of the run (kind `event`), e.g. "batch-triggered". */
  event(name: string, attributes?: Record<string, unknown>): void;
}

export interface TaskContext {
  run: TaskRunInfo;
  /**
   * Aborted when this attempt must stop: the run was canceled, ran past its maxDuration or was given
   * up on, or the worker is shutting down. A task that ignores it is cut off after a grace period.
   */
  signal: AbortSignal;
  metadata: MetadataApi & {
    /** Operations on the parent run's metadata (no-ops for a run without a parent). */
    parent: Pick<MetadataApi, "set" | "increment">;
  };
  /**
   * Triggers child runs of this run as one batch. Idempotent per run: calling it again after a
   * restart returns the batch created the first time.
   */
  batchTrigger(taskIdentifier: string, items: ChildBatchItem[]): Promise<{ batchId: string; runIds: string[] }>;
  /** Waits, without holding a worker slot, until every child of this run has finished. */
  waitForChildren(): Promise<ChildRunResult[]>;
  /** True when the worker runs in a process of its own (ending it takes nothing else down). */
  ownProcess: boolean;
  /** Abortable sleep. */
  sleep(ms: number): Promise<void>;
  streams: TaskStreams;
  /** The run's own log, stored with the run (see TaskLogger). */
  logger: TaskLogger;
  /** A line in the worker's process log (not the run's). */
  log(message: string, fields?: Record<string, unknown>): void;
}

export interface TaskDefinition<TPayload = unknown, TOutput = unknown> {
  id: string;
  description: string;
  /** Attempts and backoff; a trigger's `maxAttempts` overrides `retry.maxAttempts`. One attempt when unset. */
  retry?: RetryOptions;
  /** Seconds an attempt may run before the run is TIMED_OUT; a trigger's `maxDuration` overrides it. */
  maxDuration?: number;
  /**
   * The task's default queue (`task/<id>`): at most `concurrencyLimit` of its runs execute at once,
   * across worker processes. A trigger's `queue` option names another queue or sets a newer limit.
   */
  queue?: { concurrencyLimit?: number };
  /** A payload to try the task with (the dashboard's "import sample data"). */
  samplePayload?: () => TPayload;
  run(payload: TPayload, ctx: TaskContext): Promise<TOutput>;
}

export function defineTask<TPayload, TOutput>(
  task: TaskDefinition<TPayload, TOutput>,
): TaskDefinition<TPayload, TOutput> {
  return task;
}
