/**
 * A live feed of runs: an `AsyncIterable` with `unsubscribe()`, backed by an AbortController that is
 * chained to the caller's signal (style.md rule 5). Built on @electric-sql/client's ShapeStream, which
 * owns the request loop (offsets, handles, long-poll, 409 resets, tab visibility, backoff for network
 * errors, 5xx and 429). This class folds its messages into runs (fold.ts), maps them (run.ts) and
 * drives the lifecycle (subscription-state.ts). See SPEC.md for the invariants.
 */
import { FetchError, ShapeStream, type Message, type Row } from "@electric-sql/client";
import { AUTHORIZATION_HEADER, bearer } from "@runfeed/core";
import { ApiError, AuthenticationError, ConnectionError, MissingRealtimeHeadersError, RunfeedError } from "./errors.js";
import { RunRowFold, type FoldMessage } from "./fold.js";
import { toRealtimeRun, type RealtimeRun } from "./run.js";
import {
  INITIAL_STATE,
  isTerminal,
  transition,
  type SubscriptionEvent,
  type SubscriptionState,
} from "./subscription-state.js";
import type { TokenRefusedHandler } from "./token.js";
import type { FetchFn } from "./fetch.js";
import type { StreamSubscription } from "./stream-subscription.js";

export interface SubscriptionObserver<T> {
  next?(value: T): void;
  error?(error: Error): void;
  complete?(): void;
  /** Every change of the subscription's `state` (connecting, live, reconnecting, refused, and the end). */
  state?(state: SubscriptionState): void;
}

export interface RunSubscriptionOptions {
  /** The full feed URL, including the feed's own query parameters. */
  url: string;
  /** Sent as `Authorization: Bearer …`; replaced by what `onTokenRefused` returns. */
  accessToken: string;
  /** Every other request header. */
  headers: Record<string, string>;
  /** Hands over a fresh token after a 401; the feed then resumes from its last offset. */
  onTokenRefused?: TokenRefusedHandler;
  /** End after emitting a run whose finishedAt is set (single-run feeds). */
  stopOnCompletion: boolean;
  signal?: AbortSignal;
  fetch?: FetchFn;
  /** Opens one of the run's realtime streams (for `withStreams()`), with the same server and token. */
  openStream?: (runId: string, key: string, signal: AbortSignal, accessToken: string) => StreamSubscription<unknown>;
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
  readonly #onTokenRefused: TokenRefusedHandler | undefined;
  #accessToken: string;
  /** Notices produced before anyone listened; replayed to the first observer (S5). */
  #backlog: Notice<TRun>[] | undefined = [];
  #terminal: Notice<TRun> | undefined;
  #state: SubscriptionState = INITIAL_STATE;
  #detachCallerSignal: (() => void) | undefined;

  constructor(options: RunSubscriptionOptions) {
    this.#stopOnCompletion = options.stopOnCompletion;
    this.#url = options.url;
    this.#openStream = options.openStream;
    this.#accessToken = options.accessToken;
    this.#onTokenRefused = options.onTokenRefused;
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
    const baseFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    const stream: ShapeStream<Row> = new ShapeStream<Row>({
      url: options.url,
      // Read on every request, so a renewed token is used from the next one on.
      headers: { ...options.headers, [AUTHORIZATION_HEADER]: () => bearer(this.#accessToken) },
      signal: this.#controller.signal,
      // Electric warns once per page served over http about HTTP/1.1's six connections per origin; a
      // page holds a few feeds, and the warning would reach every app's console (a dashboard's too).
      warnOnHttp: false,
      // Sees every attempt of Electric's retry loop, so the state can say "reconnecting" (S7).
      fetchClient: async (input, init) => {
        try {
          const response = await baseFetch(input, init);
          if (response.ok) this.#dispatch({ type: "responded", upToDate: stream.isUpToDate });
          else if (response.status >= 500 || response.status === 429)
            this.#dispatch({ type: "retrying", error: ApiError.fromStatus(response.status, this.#url, undefined) });
          return response;
        } catch (error) {
          if (!init?.signal?.aborted)
            this.#dispatch({ type: "retrying", error: toSubscriptionError(error, this.#url) });
          throw error;
        }
      },
      // Any error reaching here is terminal (4xx other than 429, missing headers) unless it is a 401 and
      // the caller can renew the token: then retry from the same offset and handle (S8).
      onError: (error) => this.#onError(toSubscriptionError(error, this.#url)),
    });
    stream.subscribe(
      (messages) => this.#onMessages(messages),
      (error) => this.#fail(toSubscriptionError(error, this.#url)),
    );
  }

  /** The token in use: the one given, or the last one `onTokenRefused` returned. */
  get accessToken(): string {
    return this.#accessToken;
  }

  /** The lifecycle state: connecting, live, reconnecting, refused, completed, unsubscribed or errored. */
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
          const subscription = open(runId, key, streams.signal, this.#accessToken);
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

  async #onError(error: Error): Promise<{} | undefined> {
    const renew = this.#onTokenRefused;
    if (!(error instanceof AuthenticationError) || !renew || isTerminal(this.#state)) {
      this.#fail(error);
      return undefined;
    }
    this.#dispatch({ type: "refused", error });
    let token: string | undefined;
    try {
      token = await renew(error);
    } catch (cause) {
      this.#fail(cause instanceof Error ? cause : new RunfeedError(String(cause)));
      return undefined;
    }
    if (isTerminal(this.#state)) return undefined;
    if (!token) {
      this.#fail(error);
      return undefined;
    }
    this.#accessToken = token;
    this.#dispatch({ type: "token-renewed" });
    return {};
  }

  #fail(error: Error): void {
    this.#dispatch({ type: "error", error });
  }

  #dispatch(event: SubscriptionEvent): void {
    const before = this.#state;
    this.#state = transition(before, event);
    if (this.#state === before) return;
    for (const observer of [...this.#observers]) observer.state?.(this.#state);
    if (!isTerminal(this.#state)) return;
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
