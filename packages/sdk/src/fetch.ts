/**
 * Transport behaviour as stackable `typeof fetch → typeof fetch` decorators (style.md rule 3).
 * The REST calls stack: createFetchWithErrors(createFetchWithRetry(fetch)).
 * The realtime path hands its fetch to @electric-sql/client, which has its own backoff for
 * network errors, 5xx and 429 (contract §1.3), so only the header check is ours there.
 */
import { ApiError, ConnectionError } from "./errors.js";
import { RATE_LIMIT_RESET_HEADER, RETRY_AFTER_HEADER, SHOULD_RETRY_HEADER } from "@runfeed/core";

export type FetchFn = typeof fetch;

export interface RetryOptions {
  /** Attempts in total, including the first. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  multiplier: number;
  /** Injected for tests; defaults to Math.random. */
  random?: () => number;
  /** Injected for tests; defaults to Date.now. */
  now?: () => number;
}

/** The REST retry policy (the Trigger.dev SDK's: 5 attempts, 1 s → 30 s, ×1.6; here with full jitter). */
export const RetryDefaults: RetryOptions = {
  maxAttempts: 5,
  initialDelayMs: 1_000,
  maxDelayMs: 30_000,
  multiplier: 1.6,
};

const RETRYABLE_STATUSES = new Set([408, 409, 429]);

/** Whether a response is worth retrying: `x-should-retry` wins, then 408/409/429/5xx. */
export function shouldRetryResponse(response: Response): boolean {
  const override = response.headers.get(SHOULD_RETRY_HEADER);
  if (override === "true") return true;
  if (override === "false") return false;
  return RETRYABLE_STATUSES.has(response.status) || response.status >= 500;
}

/** The server's lower bound for the next attempt: Retry-After (seconds or date) or x-ratelimit-reset (epoch ms). */
export function serverDelayMs(response: Response, now: number): number {
  const retryAfter = response.headers.get(RETRY_AFTER_HEADER);
  if (retryAfter) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  const reset = Number(response.headers.get(RATE_LIMIT_RESET_HEADER));
  if (Number.isFinite(reset) && reset > 0) return Math.max(0, reset - now);
  return 0;
}

/** Full jitter: uniform in [0, min(max, initial·multiplier^attempt)], never below the server's bound. */
export function backoffDelayMs(attempt: number, options: RetryOptions, floorMs = 0): number {
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * options.multiplier ** attempt);
  const jittered = (options.random ?? Math.random)() * ceiling;
  return Math.min(Math.max(jittered, floorMs), Math.max(options.maxDelayMs, floorMs));
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal | null): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

const isAbort = (error: unknown) => error instanceof Error && error.name === "AbortError";

/**
 * Retries network errors and retryable statuses with exponential backoff and full jitter.
 * After the last attempt the last response is returned as is; a network error becomes ConnectionError.
 * Request bodies must be replayable (strings), which every SDK call uses.
 */
export function createFetchWithRetry(fetchFn: FetchFn, options: Partial<RetryOptions> = {}): FetchFn {
  const opts = { ...RetryDefaults, ...options };
  const now = opts.now ?? Date.now;
  return async (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    for (let attempt = 0; ; attempt++) {
      const last = attempt + 1 >= opts.maxAttempts;
      let response: Response;
      try {
        response = await fetchFn(input, init);
      } catch (error) {
        if (isAbort(error) || init?.signal?.aborted) throw error;
        if (last) throw new ConnectionError(url, error);
        await abortableSleep(backoffDelayMs(attempt, opts), init?.signal);
        continue;
      }
      if (response.ok || last || !shouldRetryResponse(response)) return response;
      await response.body?.cancel().catch(() => {});
      await abortableSleep(backoffDelayMs(attempt, opts, serverDelayMs(response, now())), init?.signal);
    }
  };
}

/** Turns every non-2xx response into the matching typed ApiError (401/403/404/429 … distinguished). */
export function createFetchWithErrors(fetchFn: FetchFn): FetchFn {
  return async (input, init) => {
    const response = await fetchFn(input, init);
    if (response.ok) return response;
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    throw await ApiError.fromResponse(response, url);
  };
}
