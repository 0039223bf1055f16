/**
 * One realtime stream, read over server-sent events: an `AsyncIterable` of its chunks with
 * `unsubscribe()`, backed by an AbortController chained to the caller's signal (style rule 5).
 *
 * - Each event is `id: <entry id>` + `data: <one JSON chunk>`; the last id seen is the resume point.
 * - A network error, 408, 429 or 5xx reconnects with `Last-Event-ID` after a jittered backoff, so
 *   nothing is missed or repeated; any other 4xx ends the iteration with a typed error.
 * - The server closing the body cleanly is the end of the stream (its run finished, or it went idle).
 */
import { EventSourceParserStream } from "eventsource-parser/stream";
import { LAST_EVENT_ID_HEADER, STREAM_START_HEADER, STREAM_START_LATEST } from "@runfeed/core";
import { ApiError, ConnectionError } from "./errors.js";
import { abortableSleep, backoffDelayMs, type FetchFn, type RetryOptions, serverDelayMs } from "./fetch.js";

export interface StreamPart<T> {
  /** The entry id: pass it as `lastEventId` to resume after this chunk. */
  id: string;
  chunk: T;
}

export interface StreamSubscriptionOptions {
  url: string;
  headers: Record<string, string>;
  fetch: FetchFn;
  signal?: AbortSignal;
  /** Resume after this entry id. */
  lastEventId?: string;
  /** Without lastEventId: only chunks written after connecting. */
  fromLatest?: boolean;
  /** Reconnection backoff (attempts are unlimited while the network fails). */
  retry?: Partial<RetryOptions>;
}

/** Reconnects: 100 ms → 5 s, doubling, full jitter, for as long as the failures are transient. */
export const StreamRetryDefaults: RetryOptions = {
  maxAttempts: Number.POSITIVE_INFINITY,
  initialDelayMs: 100,
  maxDelayMs: 5_000,
  multiplier: 2,
};

const TRANSIENT = new Set([408, 429]);

export class StreamSubscription<T = unknown> implements AsyncIterable<T> {
  readonly #options: StreamSubscriptionOptions;
  readonly #controller = new AbortController();
  readonly #detach: () => void;
  #lastEventId: string | undefined;
  #started = false;

  constructor(options: StreamSubscriptionOptions) {
    this.#options = options;
    this.#lastEventId = options.lastEventId;
    const callerSignal = options.signal;
    const onAbort = () => this.unsubscribe();
    if (callerSignal?.aborted) this.#controller.abort();
    callerSignal?.addEventListener("abort", onAbort, { once: true });
    this.#detach = () => callerSignal?.removeEventListener("abort", onAbort);
  }

  /** The id of the last chunk delivered (the resume point). */
  get lastEventId(): string | undefined {
    return this.#lastEventId;
  }

  /** Stops reading: the open request is aborted and the iteration ends. */
  unsubscribe(): void {
    this.#detach();
    this.#controller.abort();
  }

  /** The chunks with their entry ids. One iteration per subscription. */
  async *parts(): AsyncGenerator<StreamPart<T>, void, undefined> {
    if (this.#started) throw new Error("A stream subscription can be iterated once; open another with streams.read().");
    this.#started = true;
    const signal = this.#controller.signal;
    const retry = { ...StreamRetryDefaults, ...this.#options.retry };
    let attempt = 0;
    try {
      while (!signal.aborted) {
        let response: Response;
        try {
          response = await this.#options.fetch(this.#options.url, { headers: this.#requestHeaders(), signal });
        } catch (error) {
          if (signal.aborted) return;
          if (attempt + 1 >= retry.maxAttempts) throw new ConnectionError(this.#options.url, error);
          await abortableSleep(backoffDelayMs(attempt++, retry), signal).catch(() => {});
          continue;
        }
        if (!response.ok) {
          if (!(TRANSIENT.has(response.status) || response.status >= 500) || attempt + 1 >= retry.maxAttempts)
            throw await ApiError.fromResponse(response, this.#options.url);
          await response.body?.cancel().catch(() => {});
          const floor = serverDelayMs(response, Date.now());
          await abortableSleep(backoffDelayMs(attempt++, retry, floor), signal).catch(() => {});
          continue;
        }
        const events = response
          .body!.pipeThrough(new TextDecoderStream())
          .pipeThrough(new EventSourceParserStream())
          .getReader();
        let ended = false;
        try {
          for (;;) {
            const { done, value } = await events.read();
            if (done) {
              ended = true;
              break;
            }
            attempt = 0;
            if (value.id) this.#lastEventId = value.id;
            yield { id: value.id ?? "", chunk: parseChunk(value.data) as T };
          }
        } catch (error) {
          if (signal.aborted) return;
          // The connection broke mid-stream: resume after the last chunk delivered.
          await abortableSleep(backoffDelayMs(attempt++, retry), signal).catch(() => {});
          void error;
        } finally {
          events.cancel().catch(() => {});
        }
        if (ended) return;
      }
    } finally {
      this.unsubscribe();
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    for await (const part of this.parts()) yield part.chunk;
  }

  #requestHeaders(): Record<string, string> {
    const headers: Record<string, string> = { accept: "text/event-stream", ...this.#options.headers };
    if (this.#lastEventId) headers[LAST_EVENT_ID_HEADER] = this.#lastEventId;
    else if (this.#options.fromLatest) headers[STREAM_START_HEADER] = STREAM_START_LATEST;
    return headers;
  }
}

/** A chunk is one JSON text; anything else is passed through as the raw string. */
function parseChunk(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}
