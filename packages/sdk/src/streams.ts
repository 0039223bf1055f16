/**
 * Realtime streams: data written from inside a run (an LLM's tokens, progress parts) and read live,
 * resumably, by browsers and backends. The wire is the Trigger.dev v1 stream protocol
 * (@runfeed/core realtime-streams.ts), so these functions also speak to Trigger.dev-compatible servers.
 *
 * Writers run inside a task: the worker that runs it installs a task-run context
 * (`setTaskRunContextProvider`), which names the run and carries its own token. Outside a task pass
 * `{ target: runId, accessToken: secretKey }`.
 *
 * @example
 * ```ts
 * // in a task
 * await streams.pipe("llm", tokens());                     // every chunk, in order, then done
 * await streams.append("status", { step: "summarising" });
 * const { approved } = await streams.input<{ approved: boolean }>("approval").once();
 *
 * // anywhere else
 * for await (const token of streams.read<string>(runId, "llm", { accessToken })) process.stdout.write(token);
 * ```
 */
import {
  DEFAULT_STREAM_KEY,
  INPUT_STREAM_SEGMENT,
  NDJSON_CONTENT_TYPE,
  REALTIME_STREAMS_PATH,
  STREAM_APPEND_SEGMENT,
  STREAM_CLIENT_ID_HEADER,
  STREAM_LAST_CHUNK_INDEX_HEADER,
  STREAM_PROTOCOL_VERSION,
  STREAM_RESUME_FROM_CHUNK_HEADER,
  STREAM_TARGETS,
  type StreamTarget,
} from "@runfeed/core";
import { apiUrl, resolveConfig, type RequestOptions, type ResolvedConfig } from "./config.js";
import { ApiError, ConfigurationError, ConnectionError, RunfeedError } from "./errors.js";
import { abortableSleep, backoffDelayMs, createFetchWithErrors, createFetchWithRetry } from "./fetch.js";
import { randomId, requestHeaders } from "./http.js";
import { StreamRetryDefaults, StreamSubscription } from "./stream-subscription.js";

// --- The task-run context a worker installs

/** The run a task is executing, as the worker that runs it describes it. */
export interface TaskRunContext {
  /** The run's friendly id (`run_…`). */
  runId: string;
  parentRunId?: string;
  rootRunId?: string;
  baseURL: string;
  /** The run's own token (`write:streams:<runId>`, `read:runs:<runId>`). */
  accessToken: string;
}

let taskRunContext: (() => TaskRunContext | undefined) | undefined;

/**
 * Installed by the worker that executes tasks (e.g. over an AsyncLocalStorage), so `streams.*` called
 * inside a task know their run. Returns the provider it replaced (to put it back).
 */
export function setTaskRunContextProvider(
  provider: (() => TaskRunContext | undefined) | undefined,
): (() => TaskRunContext | undefined) | undefined {
  const previous = taskRunContext;
  taskRunContext = provider;
  return previous;
}

/** The run the caller is executing in, if any. */
export function currentTaskRun(): TaskRunContext | undefined {
  return taskRunContext?.();
}

export interface StreamWriteOptions extends RequestOptions {
  /** A run id, or "self" / "parent" / "root" of the current task run (default "self"). */
  target?: string;
}

interface WriteTarget {
  runId: string;
  config: ResolvedConfig;
}

function writeTarget(options: StreamWriteOptions): WriteTarget {
  const task = currentTaskRun();
  const target = options.target ?? "self";
  let runId: string | undefined = target;
  if ((STREAM_TARGETS as readonly string[]).includes(target)) {
    const relative = target as StreamTarget;
    runId =
      relative === "self"
        ? task?.runId
        : relative === "parent"
          ? (task?.parentRunId ?? task?.runId)
          : (task?.rootRunId ?? task?.runId);
  }
  if (!runId)
    throw new ConfigurationError(
      "No run to write the stream to: call streams.* inside a task run by the runfeed worker, or pass { target: runId }.",
    );
  const config = resolveConfig({
    baseURL: options.baseURL ?? task?.baseURL,
    accessToken: options.accessToken ?? task?.accessToken,
    signal: options.signal,
  });
  return { runId, config };
}

/** `…/streams/:runId/self/:key[/append]`: the run is already resolved, so the target is always self. */
const writePath = (runId: string, key: string, append = false) =>
  [
    REALTIME_STREAMS_PATH,
    encodeURIComponent(runId),
    "self",
    encodeURIComponent(key),
    ...(append ? [STREAM_APPEND_SEGMENT] : []),
  ].join("/");
const readPath = (runId: string, key: string) =>
  [REALTIME_STREAMS_PATH, encodeURIComponent(runId), encodeURIComponent(key)].join("/");
const inputPath = (runId: string, id: string) =>
  [REALTIME_STREAMS_PATH, encodeURIComponent(runId), INPUT_STREAM_SEGMENT, encodeURIComponent(id)].join("/");

// --- Writing

export interface PipeResult {
  /** Chunks the server stored for this pipe. */
  chunks: number;
}

export const PipeDefaults = {
  /** A pipe keeps retrying transient failures (network errors, 408/429/5xx) for this long before giving up. */
  giveUpAfterMs: 60_000,
  /** Every this many lines the writer asks the server how far it got, to free what it keeps for a resend. */
  confirmEvery: 1_000,
};

/**
 * Sends every chunk of `source`, in order, into the run's stream `key`, as one long request; resolves
 * once the server stored them all. A broken connection is resumed where the server's copy ends (no
 * chunk lost, none stored twice). Rejects with a typed ApiError on a refusal (413 past a cap, 400
 * once the run finished, 401/403). Node only (it streams a request body).
 */
export async function pipe<T>(
  key: string,
  source: AsyncIterable<T> | ReadableStream<T>,
  options: StreamWriteOptions = {},
): Promise<PipeResult> {
  const { runId, config } = writeTarget(options);
  const fetchFn = config.fetch;
  const rest = createFetchWithErrors(createFetchWithRetry(fetchFn, config.retry));
  const created = await rest(apiUrl(config, writePath(runId, key)), {
    method: "PUT",
    headers: requestHeaders(config),
    signal: config.signal,
  });
  const { version } = (await created.json()) as { version?: string };
  if (version !== STREAM_PROTOCOL_VERSION)
    throw new RunfeedError(`The server offers stream protocol "${version}"; @runfeed/sdk writes only "v1".`);

  const url = apiUrl(config, writePath(runId, key));
  const clientId = randomId();
  const lines = new LineBuffer(iterate(source));
  // Free what the server already has, now and then (kept lines are only needed for a resend).
  lines.onLine = (count) => {
    if (count % PipeDefaults.confirmEvery === 0)
      void lastStored(fetchFn, config, url, clientId).then((index) => lines.confirm(index));
  };
  let attempt = 0;
  let failingSince: number | undefined;
  for (;;) {
    const body = lines.bodyFrom(lines.confirmed + 1);
    let response: Response | undefined;
    let failure: unknown;
    try {
      response = await fetchFn(url, {
        method: "POST",
        headers: {
          ...requestHeaders(config),
          "content-type": NDJSON_CONTENT_TYPE,
          [STREAM_CLIENT_ID_HEADER]: clientId,
          [STREAM_RESUME_FROM_CHUNK_HEADER]: String(lines.confirmed + 1),
        },
        body,
        signal: config.signal,
        duplex: "half",
      } as RequestInit);
    } catch (error) {
      failure = error;
    }
    if (lines.sourceError) throw lines.sourceError;
    if (response?.ok) {
      await response.body?.cancel().catch(() => {});
      await lines.drained();
      return { chunks: lines.count };
    }
    if (config.signal?.aborted) throw config.signal.reason;
    if (response && !(response.status === 408 || response.status === 429 || response.status >= 500))
      throw await ApiError.fromResponse(response, url);
    // Progress since the last failure (the server stored more) starts the give-up clock afresh.
    const stored = await lastStored(fetchFn, config, url, clientId);
    if (stored > lines.confirmed) {
      failingSince = undefined;
      attempt = 0;
    }
    lines.confirm(stored);
    failingSince ??= Date.now();
    if (Date.now() - failingSince > PipeDefaults.giveUpAfterMs) {
      if (response) throw await ApiError.fromResponse(response, url);
      throw new ConnectionError(url, failure);
    }
    await response?.body?.cancel().catch(() => {});
    await abortableSleep(backoffDelayMs(attempt++, { ...StreamRetryDefaults, ...config.retry }), config.signal);
    lines.confirm(await lastStored(fetchFn, config, url, clientId));
  }
}

/** The server's last stored chunk index for this writer (-1: none, or it could not say). */
async function lastStored(fetchFn: typeof fetch, config: ResolvedConfig, url: string, clientId: string) {
  try {
    const response = await fetchFn(url, {
      method: "HEAD",
      headers: { ...requestHeaders(config), [STREAM_CLIENT_ID_HEADER]: clientId },
      signal: config.signal,
    });
    const value = Number(response.headers.get(STREAM_LAST_CHUNK_INDEX_HEADER));
    return response.ok && Number.isInteger(value) ? value : -1;
  } catch {
    return -1;
  }
}

/**
 * The pipe's lines: read from the source once, kept until the server confirms them, and replayed
 * from any index as a request body.
 */
class LineBuffer {
  readonly #source: AsyncIterator<unknown>;
  #lines: string[] = [];
  /** Index of #lines[0]. */
  #offset = 0;
  #done = false;
  #pending: Promise<void> | undefined;
  confirmed = -1;
  count = 0;
  sourceError: unknown;
  /** Called with the number of lines read so far, after each line. */
  onLine: ((count: number) => void) | undefined;

  constructor(source: AsyncIterator<unknown>) {
    this.#source = source;
  }

  confirm(index: number) {
    if (index <= this.confirmed) return;
    this.confirmed = Math.min(index, this.#offset + this.#lines.length - 1);
    const drop = this.confirmed + 1 - this.#offset;
    if (drop > 0) {
      this.#lines = this.#lines.slice(drop);
      this.#offset += drop;
    }
  }

  /** Resolves once the source is exhausted (the body's end told the server so). */
  async drained() {
    while (!this.#done) await this.#more();
  }

  #more(): Promise<void> {
    this.#pending ??= this.#source.next().then(
      (result) => {
        this.#pending = undefined;
        if (result.done) this.#done = true;
        else {
          this.#lines.push(`${JSON.stringify(result.value) ?? "null"}\n`);
          this.count++;
          this.onLine?.(this.count);
        }
      },
      (error: unknown) => {
        this.#pending = undefined;
        this.#done = true;
        this.sourceError = error;
      },
    );
    return this.#pending;
  }

  bodyFrom(start: number): ReadableStream<Uint8Array> {
    const encoder = new TextEncoder();
    let next = start;
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (next - this.#offset >= this.#lines.length && !this.#done) await this.#more();
        if (next - this.#offset >= this.#lines.length) {
          if (this.sourceError) controller.error(this.sourceError);
          else controller.close();
          return;
        }
        // Everything already read goes out in one write.
        const from = Math.max(0, next - this.#offset);
        const text = this.#lines.slice(from).join("");
        next = this.#offset + this.#lines.length;
        controller.enqueue(encoder.encode(text));
      },
    });
  }
}

async function* iterate<T>(source: AsyncIterable<T> | ReadableStream<T>): AsyncGenerator<T> {
  if (Symbol.asyncIterator in source) {
    yield* source as AsyncIterable<T>;
    return;
  }
  const reader = (source as ReadableStream<T>).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}

/**
 * Adds one chunk (any JSON value) to the run's stream `key`; resolves once it is stored. Retried on
 * transient failures without ever being stored twice.
 */
export async function append(key: string, value: unknown, options: StreamWriteOptions = {}): Promise<void> {
  const { runId, config } = writeTarget(options);
  const fetchFn = createFetchWithErrors(createFetchWithRetry(config.fetch, config.retry));
  const response = await fetchFn(apiUrl(config, writePath(runId, key)), {
    method: "POST",
    headers: {
      ...requestHeaders(config),
      "content-type": NDJSON_CONTENT_TYPE,
      [STREAM_CLIENT_ID_HEADER]: randomId(),
      [STREAM_RESUME_FROM_CHUNK_HEADER]: "0",
    },
    body: `${JSON.stringify(value) ?? "null"}\n`,
    signal: config.signal,
  });
  await response.body?.cancel().catch(() => {});
}

/** `POST …/append` with a text part: what the Trigger.dev SDK's `streams.append` sends. */
export async function appendText(key: string, text: string, options: StreamWriteOptions = {}): Promise<void> {
  const { runId, config } = writeTarget(options);
  const fetchFn = createFetchWithErrors(createFetchWithRetry(config.fetch, config.retry));
  const response = await fetchFn(apiUrl(config, writePath(runId, key, true)), {
    method: "POST",
    headers: requestHeaders(config),
    body: text,
    signal: config.signal,
  });
  await response.body?.cancel().catch(() => {});
}

// --- Reading

export interface StreamReadOptions extends RequestOptions {
  /** Resume after this chunk's id (a `StreamPart.id`). */
  lastEventId?: string;
  /** Without lastEventId: only chunks written after connecting. */
  from?: "start" | "latest";
}

/**
 * Reads a run's stream: every chunk from the start (or after `lastEventId`), then live, until the
 * stream ends (its run finished, or its writer went away). Reconnects by itself without gaps.
 */
export function read<T = unknown>(runId: string, key: string = DEFAULT_STREAM_KEY, options: StreamReadOptions = {}) {
  const task = currentTaskRun();
  const config = resolveConfig({
    baseURL: options.baseURL ?? task?.baseURL,
    accessToken: options.accessToken ?? task?.accessToken,
  });
  return new StreamSubscription<T>({
    url: apiUrl(config, readPath(runId, key)),
    headers: requestHeaders(config),
    fetch: config.fetch,
    signal: options.signal,
    lastEventId: options.lastEventId,
    fromLatest: options.from === "latest",
  });
}

// --- Input streams: data sent into a running task

export interface InputStream<T> {
  readonly id: string;
  /** Sends `data` into the run (a token with `write:inputStreams:<runId>`, or a secret key). */
  send(runId: string, data: T, options?: RequestOptions): Promise<void>;
  /** Inside a task: the next value sent to this run that this task has not taken yet. */
  once(options?: { signal?: AbortSignal; timeoutMs?: number }): Promise<T>;
  /** Inside a task: calls `handler` for every value sent, from the first; returns a function that stops. */
  on(handler: (data: T) => void, options?: { signal?: AbortSignal }): () => void;
}

/** Input cursors of the task runs in this process: `once()` never hands out a value twice. */
const inputCursors = new Map<string, string>();

export function input<T = unknown>(id: string): InputStream<T> {
  const subscribe = (signal: AbortSignal | undefined, lastEventId: string | undefined) => {
    const task = currentTaskRun();
    if (!task)
      throw new ConfigurationError(`streams.input("${id}").on/once work inside a task run by the runfeed worker.`);
    const config = resolveConfig({ baseURL: task.baseURL, accessToken: task.accessToken });
    return {
      task,
      subscription: new StreamSubscription<T>({
        url: apiUrl(config, inputPath(task.runId, id)),
        headers: requestHeaders(config),
        fetch: config.fetch,
        signal,
        lastEventId,
      }),
    };
  };
  return {
    id,
    async send(runId, data, options = {}) {
      const config = resolveConfig(options);
      const fetchFn = createFetchWithErrors(createFetchWithRetry(config.fetch, config.retry));
      const response = await fetchFn(apiUrl(config, inputPath(runId, id)), {
        method: "POST",
        headers: { ...requestHeaders(config), "content-type": "application/json" },
        body: JSON.stringify({ data }),
        signal: config.signal,
      });
      await response.body?.cancel().catch(() => {});
    },
    async once(options = {}) {
      const signals = [options.signal, options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined];
      const signal = AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
      const task = currentTaskRun();
      const cursorKey = `${task?.runId}\0${id}`;
      const { subscription } = subscribe(signal, inputCursors.get(cursorKey));
      for await (const part of subscription.parts()) {
        inputCursors.set(cursorKey, part.id);
        subscription.unsubscribe();
        return part.chunk;
      }
      if (signal.aborted) throw signal.reason ?? new RunfeedError(`streams.input("${id}").once() was aborted`);
      throw new RunfeedError(`The run ended before anything was sent to input stream "${id}".`);
    },
    on(handler, options = {}) {
      const { subscription } = subscribe(options.signal, undefined);
      void (async () => {
        for await (const value of subscription) handler(value);
      })().catch(() => {});
      return () => subscription.unsubscribe();
    },
  };
}

export { StreamSubscription, type StreamPart } from "./stream-subscription.js";
