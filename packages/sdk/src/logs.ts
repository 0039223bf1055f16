/**
 * A run's log lines and events (`/realtime/v1/runs/:id/logs`, a shape on the server's log table;
 * docs/decisions/090-run-logs.md): `readLogs` returns what is stored now, `subscribeToLogs` keeps
 * yielding new lines as they are written. Same token rules as the run's own feed (read on the run).
 *
 * Lines are append-only: inserts are collected, a line already seen (by id) is never yielded twice,
 * even when the server resets the shape (must-refetch) and sends everything again. Lines are yielded
 * per committed batch (one `up-to-date`), ordered by time, then the writer's sequence, then id.
 */
import { ShapeStream, type Message, type Row } from "@electric-sql/client";
import {
  API_VERSION_HEADER,
  AUTHORIZATION_HEADER,
  RUN_LOG_KINDS,
  RUN_LOG_LEVELS,
  RUN_LOGS_SEGMENT,
  TRIGGER_API_VERSION,
  UP_TO_DATE,
  bearer,
  compareRunLogLines,
  type RunLogKind,
  type RunLogLevel,
  type RunLogLine,
} from "@runfeed/core";
import { apiUrl, resolveConfig, type RequestOptions } from "./config.js";
import { RunParseError, RunfeedError } from "./errors.js";
import { parseUtcTimestamp } from "./run.js";
import { toSubscriptionError } from "./subscription.js";

export type { RunLogLine, RunLogKind, RunLogLevel };
export { mergeRunLogLines } from "@runfeed/core";

const logsPath = (runId: string) => `/realtime/v1/runs/${encodeURIComponent(runId)}/${RUN_LOGS_SEGMENT}`;

/** A shape row → a log line; a row missing a required column is a RunParseError. */
export function toRunLogLine(row: Record<string, unknown>): RunLogLine {
  const time = parseUtcTimestamp(row.time);
  const createdAt = parseUtcTimestamp(row.createdAt);
  const kind = row.kind as RunLogKind;
  const level = row.level as RunLogLevel;
  if (
    typeof row.id !== "string" ||
    typeof row.runId !== "string" ||
    typeof row.message !== "string" ||
    !time ||
    !createdAt ||
    !RUN_LOG_KINDS.includes(kind) ||
    !RUN_LOG_LEVELS.includes(level)
  ) {
    throw new RunParseError(
      `Log row ${String(row.id)} is missing or has an invalid id, runId, kind, level, message or time.`,
    );
  }
  const attributes =
    typeof row.attributes === "string" ? (JSON.parse(row.attributes) as unknown) : (row.attributes ?? {});
  return {
    id: row.id,
    runId: row.runId,
    kind,
    level,
    message: row.message,
    attributes: attributes && typeof attributes === "object" ? (attributes as Record<string, unknown>) : {},
    time,
    seq: typeof row.seq === "number" ? row.seq : Number(row.seq ?? 0),
    createdAt,
  };
}

/** Collects inserted lines and hands out the new ones at each `up-to-date`, in order. Pure, no I/O. */
export class RunLogFold {
  readonly #seen = new Set<string>();
  #pending: RunLogLine[] = [];

  apply(messages: ReadonlyArray<{ key?: string; value?: Record<string, unknown>; headers: Record<string, unknown> }>) {
    let upToDate = false;
    for (const message of messages) {
      if (message.headers.control === UP_TO_DATE) upToDate = true;
      if (message.headers.operation !== "insert" || !message.value) continue;
      const line = toRunLogLine(message.value);
      if (this.#seen.has(line.id)) continue;
      this.#seen.add(line.id);
      this.#pending.push(line);
    }
    if (!upToDate) return { upToDate, lines: [] as RunLogLine[] };
    const lines = this.#pending.sort(compareRunLogLines);
    this.#pending = [];
    return { upToDate, lines };
  }
}

export interface RunLogsOptions extends RequestOptions {}

/**
 * Live log lines of one run: `for await (const line of subscription)`, `subscribe({ next })` or
 * `unsubscribe()`. Never ends by itself (a run may be retried and log again); stop it when done.
 */
export class RunLogSubscription implements AsyncIterable<RunLogLine> {
  readonly #controller = new AbortController();
  readonly #listeners = new Set<(event: { line?: RunLogLine; error?: Error; done?: boolean }) => void>();
  readonly #backlog: Array<{ line?: RunLogLine; error?: Error; done?: boolean }> = [];
  #ended = false;
  #live = false;

  constructor(runId: string, options: RunLogsOptions & { live?: boolean } = {}) {
    const config = resolveConfig(options);
    const url = apiUrl(config, logsPath(runId));
    const signal = options.signal;
    if (signal?.aborted) {
      this.#end({ done: true });
      return;
    }
    signal?.addEventListener("abort", () => this.unsubscribe(), { once: true });
    const fold = new RunLogFold();
    const stream = new ShapeStream<Row>({
      url,
      headers: { [AUTHORIZATION_HEADER]: bearer(config.accessToken), [API_VERSION_HEADER]: TRIGGER_API_VERSION },
      signal: this.#controller.signal,
      fetchClient: config.fetch,
      subscribe: options.live ?? true,
      // One log feed per run view: the HTTP/1.1 connection-limit warning (once per page) is not about it.
      warnOnHttp: false,
      onError: (error) => {
        this.#end({ error: toSubscriptionError(error, url) });
        return undefined;
      },
    });
    stream.subscribe(
      (messages: Message<Row>[]) => {
        if (this.#ended) return;
        try {
          const { upToDate, lines } = fold.apply(messages as never);
          for (const line of lines) this.#emit({ line });
          if (upToDate) this.#live = true;
          if (upToDate && options.live === false) this.#end({ done: true });
        } catch (error) {
          this.#end({ error: error instanceof Error ? error : new RunfeedError(String(error)) });
        }
      },
      (error) => this.#end({ error: toSubscriptionError(error, url) }),
    );
  }

  /** True once the stored lines have all been yielded (the first `up-to-date`). */
  get live(): boolean {
    return this.#live;
  }

  unsubscribe(): void {
    this.#end({ done: true });
  }

  /** Observer form; returns a function that detaches this observer only. */
  subscribe(observer: { next?(line: RunLogLine): void; error?(error: Error): void; complete?(): void }): () => void {
    const listener = (event: { line?: RunLogLine; error?: Error; done?: boolean }) => {
      if (event.line) observer.next?.(event.line);
      else if (event.error) observer.error?.(event.error);
      else observer.complete?.();
    };
    this.#listeners.add(listener);
    for (const event of this.#backlog.splice(0)) listener(event);
    return () => this.#listeners.delete(listener);
  }

  [Symbol.asyncIterator](): AsyncIterator<RunLogLine> {
    const queue: Array<{ line?: RunLogLine; error?: Error; done?: boolean }> = [];
    let wake: (() => void) | undefined;
    const detach = this.subscribe({
      next: (line) => (queue.push({ line }), wake?.()),
      error: (error) => (queue.push({ error }), wake?.()),
      complete: () => (queue.push({ done: true }), wake?.()),
    });
    return {
      next: async () => {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const event = queue[0]!;
        if (event.line) {
          queue.shift();
          return { done: false, value: event.line };
        }
        detach();
        if (event.error) throw event.error;
        return { done: true, value: undefined };
      },
      return: async () => {
        detach();
        this.unsubscribe();
        return { done: true, value: undefined };
      },
    };
  }

  #emit(event: { line?: RunLogLine; error?: Error; done?: boolean }) {
    if (this.#listeners.size === 0) this.#backlog.push(event);
    for (const listener of [...this.#listeners]) listener(event);
  }

  #end(event: { error?: Error; done?: boolean }) {
    if (this.#ended) return;
    this.#ended = true;
    this.#controller.abort();
    this.#emit(event);
  }
}

/**
 * Follows a run's log lines live: first every stored line, then each new one as it is written.
 *
 * @example
 * ```ts
 * for await (const line of runs.subscribeToLogs(runId, { accessToken: publicToken })) {
 *   console.log(line.time.toISOString(), line.level, line.message);
 * }
 * ```
 */
export function subscribeToLogs(runId: string, options: RunLogsOptions = {}): RunLogSubscription {
  return new RunLogSubscription(runId, options);
}

/** The run's log lines stored now, in order. */
export async function readLogs(runId: string, options: RunLogsOptions = {}): Promise<RunLogLine[]> {
  const lines: RunLogLine[] = [];
  for await (const line of new RunLogSubscription(runId, { ...options, live: false })) lines.push(line);
  return lines.sort(compareRunLogLines);
}
