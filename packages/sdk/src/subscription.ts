/**
 * A live feed of runs: an `AsyncIterable` with `unsubscribe()`, backed by an AbortController that is
 * chained to the caller's signal (style.md rule 5). Built on @electric-sql/client's ShapeStream, which
 * owns the request loop (offsets, handles, long-poll, 409 resets, tab visibility, backoff for network
 * errors, 5xx and 429). This class folds its messages into runs (fold.ts), maps them (run.ts) and
 * drives the lifecycle (subscription-state.ts). See SPEC.md for the invariants.
 */
import { FetchError, ShapeStream, type Message, type Row } from "@electric-sql/client";
import { ApiError, ConnectionError, MissingRealtimeHeadersError, RunfeedError } from "./errors.js";
import { RunRowFold, type FoldMessage } from "./fold.js";
import { toRealtimeRun, type RealtimeRun } from "./run.js";
import {
  INITIAL_STATE,
  isTerminal,
  transition,
  type SubscriptionEvent,
  type SubscriptionState,
} from "./subscription-state.js";
import type { FetchFn } from "./fetch.js";
import type { StreamSubscription } from "./stream-subscription.js";

export interface SubscriptionObserver<T> {
  next?(value: T): void;
  error?(error: Error): void;
  complete?(): void;
}

export interface RunSubscriptionOptions {
  /** The full feed URL, including the feed's own query parameters. */
  url: string;
  headers: Record<string, string>;
  /** End after emitting a run whose finishedAt is set (single-run feeds). */
  stopOnCompletion: boolean;
  signal?: AbortSignal;
  fetch?: FetchFn;
  /** Live mode over server-sent events, with the Electric client's own fallback to long-polling. */
  liveSse?: boolean;
  /** Opens one of the run's realtime streams (for `withStreams()`), with the same server and token. */
  openStream?: (runId: string, key: string, signal: AbortSignal) => StreamSubscription<unknown>;
}

/** What `withStreams()` yields: the run as it changes, and each chunk of each of its streams. */
export type RunWithStreamsPart<TRun, TStreams extends Record<string, unknown>> =
  | { type: "run"; run: TRun }
  | { [K in keyof TStreams & string]: { type: K; chunk: TStreams[K]; run: TRun } }[keyof TStreams & string];

type Notice<T> = { type: "next"; value: T } | { type: "error"; error: Error } | { type: "complete" };

export class RunSubscription<TRun extends RealtimeRun<any, any, any> = RealtimeRun> implements AsyncIterable<TRun> {
  readonly #controller = new AbortController();
  readonly #observers = new Set<SubscriptionObserver<TRun>>();
  readonly #fold = new RunRowFold();
  readonly #stopOnCompletion: boolean;
  readonly #url: string;
  readonly #openStream: RunSubscriptionOptions["openStream"];
  /** Notices produced before anyone listened; replayed to the first observer (S5). */
  #backlog: Notice<TRun>[] | undefined = [];
  #terminal: Notice<TRun> | undefined;
  #state: SubscriptionState = INITIAL_STATE;
  #detachCallerSignal: (() => void) | undefined;

  constructor(options: RunSubscriptionOptions) {
    this.#stopOnCompletion = options.stopOnCompletion;
    this.#url = options.url;
    this.#openStream = options.openStream;
    const callerSignal = options.signal;
    if (callerSignal) {
      if (callerSignal.aborted) {
        this.unsubscribe();
        return;
      }
      const onAbort = () => this.unsubscribe();
      callerSignal.addEventListener("abort", onAbort, { once: true });
      this.#detachCallerSignal = () => callerSignal.removeEventListener("abort", onAbort);
    }
    const stream = new ShapeStream<Row>({
      url: options.url,
      headers: options.headers,
      signal: this.#controller.signal,
      fetchClient: options.fetch,
      liveSse: options.liveSse ?? false,
      // Any error reaching here is terminal (4xx other than 429, missing headers): surface it, stop.
      onError: (error) => {
        this.#fail(toSubscriptionError(error, this.#url));
        return undefined;
      },
    });
    stream.subscribe(
      (messages) => this.#onMessages(messages),
      (error) => this.#fail(toSubscriptionError(error, this.#url)),
    );
  }

  /** The lifecycle state: connecting, live, completed, unsubscribed or errored. */
  get state(): SubscriptionState {
    return this.#state;
  }

  /** Stops the feed: aborts the in-flight request and ends every iterator and observer. */
  unsubscribe(): void {
    if (isTerminal(this.#state)) return;
    this.#dispatch({ type: "unsubscribe" });
  }

  /**
   * Observer form (used by the React hooks). Returns a function that detaches this observer only;
   * call `unsubscribe()` to stop the feed.
   */
  subscribe(observer: SubscriptionObserver<TRun>): () => void {
    this.#observers.add(observer);
    const backlog = this.#backlog;
    this.#backlog = undefined;
    for (const notice of backlog ?? []) deliver(observer, notice);
    if (this.#terminal && !backlog?.includes(this.#terminal)) deliver(observer, this.#terminal);
    return () => this.#observers.delete(observer);
  }

  [Symbol.asyncIterator](): AsyncIterator<TRun> {
    const queue: Notice<TRun>[] = [];
    let wake: (() => void) | undefined;
    const detach = this.subscribe({
      next: (value) => (queue.push({ type: "next", value }), wake?.()),
      error: (error) => (queue.push({ type: "error", error }), wake?.()),
      complete: () => (queue.push({ type: "complete" }), wake?.()),
    });
    const done = (): IteratorResult<TRun> => ({ done: true, value: undefined });
    return {
      next: async () => {
        while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
        const notice = queue.shift()!;
        if (notice.type === "next") return { done: false, value: notice.value };
        queue.unshift(notice); // stay ended
        detach();
        if (notice.type === "error") throw notice.error;
        return done();
      },
      // `break` out of for-await stops the feed, as users expect.
      return: async () => {
        detach();
        this.unsubscribe();
        return done();
      },
    };
  }

  /**
   * The run and, as they appear on it (`realtimeStreams`, or `metadata.$$streams`), each of its
   * realtime streams: every chunk in order, each stream read once. Ends when the run's feed has ended
   * and every stream with it (streams end once their run finished), or on `break` / `unsubscribe()`.
   *
   * @example
   * ```ts
   * for await (const part of runs.subscribeToRun(runId).withStreams<{ llm: string }>()) {
   *   if (part.type === "run") console.log(part.run.status);
   *   else process.stdout.write(part.chunk);
   * }
   * ```
   */
  withStreams<TStreams extends Record<string, unknown> = Record<string, unknown>>(): AsyncIterable<
    RunWithStreamsPart<TRun, TStreams>
  > {
    const open = this.#openStream;
    if (!open) throw new RunfeedError("This subscription cannot open realtime streams (no server configuration).");
    return {
      [Symbol.asyncIterator]: () => {
        type Part = RunWithStreamsPart<TRun, TStreams>;
        const queue: Part[] = [];
        const streams = new AbortController();
        const opened = new Set<string>();
        let latest: TRun | undefined;
        let reading = 0;
        let feedEnded = false;
        let failure: Error | undefined;
        let wake: (() => void) | undefined;
        const notify = () => wake?.();
        const read = (runId: string, key: string) => {
          reading++;
          const subscription = open(runId, key, streams.signal);
          void (async () => {
            for await (const chunk of subscription) {
              queue.push({ type: key, chunk, run: latest } as Part);
              notify();
            }
          })()
            .catch((error: unknown) => {
              if (!streams.signal.aborted) failure ??= error instanceof Error ? error : new RunfeedError(String(error));
            })
            .finally(() => {
              reading--;
              notify();
            });
        };
        const detach = this.subscribe({
          next: (run) => {
            latest = run;
            queue.push({ type: "run", run } as Part);
            for (const key of streamKeysOf(run)) {
              if (opened.has(key)) continue;
              opened.add(key);
              read(run.id, key);
            }
            notify();
          },
          error: (error) => {
            failure ??= error;
            feedEnded = true;
            notify();
          },
          complete: () => {
            feedEnded = true;
            notify();
          },
        });
        const stop = () => {
          streams.abort();
          detach();
          this.unsubscribe();
        };
        return {
          next: async (): Promise<IteratorResult<Part>> => {
            for (;;) {
              if (queue.length > 0) return { done: false, value: queue.shift()! };
              if (failure) {
                stop();
                throw failure;
              }
              if (feedEnded && reading === 0) {
                stop();
                return { done: true, value: undefined };
              }
              await new Promise<void>((resolve) => (wake = resolve));
              wake = undefined;
            }
          },
          return: async () => {
            stop();
            return { done: true, value: undefined };
          },
        };
      },
    };
  }

  #onMessages(messages: Message<Row>[]): void {
    if (isTerminal(this.#state)) return;
    try {
      const rows = this.#fold.apply(messages as unknown as FoldMessage[]);
      const upToDate = messages.some((m) => "control" in m.headers && m.headers.control === "up-to-date");
      if (upToDate) this.#dispatch({ type: "up-to-date" });
      for (const row of rows) {
        const run = toRealtimeRun(row) as TRun;
        this.#notify({ type: "next", value: run });
        if (this.#stopOnCompletion && run.finishedAt) {
          this.#dispatch({ type: "run-finished" });
          return;
        }
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new RunfeedError(String(error)));
    }
  }

  #fail(error: Error): void {
    this.#dispatch({ type: "error", error });
  }

  #dispatch(event: SubscriptionEvent): void {
    const before = this.#state;
    this.#state = transition(before, event);
    if (this.#state === before || !isTerminal(this.#state)) return;
    // Entering a terminal state: no request after this point (S3).
    this.#detachCallerSignal?.();
    this.#controller.abort();
    const notice: Notice<TRun> =
      this.#state.kind === "errored" ? { type: "error", error: this.#state.error } : { type: "complete" };
    this.#terminal = notice;
    this.#notify(notice);
  }

  #notify(notice: Notice<TRun>): void {
    if (this.#backlog) {
      this.#backlog.push(notice);
      return;
    }
    for (const observer of [...this.#observers]) deliver(observer, notice);
  }
}

/** The run's stream keys: `metadata.$$streams` when it lists any (older SDKs), else `realtimeStreams`. */
function streamKeysOf(run: RealtimeRun<any, any, any>): string[] {
  const listed = (run.metadata as { $$streams?: unknown } | undefined)?.$$streams;
  if (Array.isArray(listed) && listed.length > 0 && listed.every((k) => typeof k === "string")) return listed;
  return run.realtimeStreams;
}

function deliver<T>(observer: SubscriptionObserver<T>, notice: Notice<T>): void {
  if (notice.type === "next") observer.next?.(notice.value);
  else if (notice.type === "error") observer.error?.(notice.error);
  else observer.complete?.();
}

const MISSING_HEADERS = /didn't include the following required headers/;

/** Electric's errors → ours, so callers can tell 401/403/404/429 and header problems apart. */
export function toSubscriptionError(error: unknown, url: string): Error {
  if (error instanceof RunfeedError) return error;
  if (error instanceof FetchError)
    return ApiError.fromStatus(error.status, error.url ?? url, (error.json ?? error.text) as unknown, error.headers);
  // @electric-sql/client does not export MissingHeadersError; recognise it by its message.
  if (error instanceof Error && MISSING_HEADERS.test(error.message)) {
    const missing = [...error.message.matchAll(/^- (.+)$/gm)].map((m) => m[1]!);
    return new MissingRealtimeHeadersError(url, missing);
  }
  if (error instanceof TypeError) return new ConnectionError(url, error);
  return error instanceof Error ? error : new RunfeedError(String(error));
}
