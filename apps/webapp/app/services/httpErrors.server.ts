/**
 * An error that knows its HTTP status and renders itself as JSON (style.md rule 4).
 * Route code throws these; the API pipeline turns them into responses.
 *
 * Every error the webapp answers has one body shape, `ErrorBody`: `{ "error": "<what went wrong>" }`
 * plus named details. `error` is the field Trigger.dev's SDK reads (its ApiError takes the message
 * from it), so the official SDK and ours show the same text.
 */

/** The one error body: the problem in words under `error`, and optional details beside it. */
export type ErrorBody = { error: string } & Record<string, unknown>;

export const errorBody = (message: string, details: Record<string, unknown> = {}): ErrorBody => ({
  error: message,
  ...details,
});

const HTTP_ERROR = Symbol.for("runfeed.HttpError");

export class HttpError extends Error {
  override name = "HttpError";
  readonly [HTTP_ERROR] = true;

  /**
   * `instanceof HttpError` holds across copies of this module: the objects of `Services` (e.g. the
   * Authenticator, the metadata writer) are loaded by the server entry, while the route modules that
   * catch their errors come from Remix's build (or Vite's SSR graph), which holds its own copy.
   * Subclasses keep the ordinary prototype check.
   */
  static [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class right of `instanceof` (a subclass or HttpError)
    if (this !== HttpError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && (value as { [HTTP_ERROR]?: unknown })[HTTP_ERROR] === true;
  }

  constructor(
    readonly status: number,
    readonly body: ErrorBody,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.error);
  }

  toResponse(): Response {
    return Response.json(this.body, { status: this.status, headers: this.headers });
  }
}

export const unauthorized = (message: string) => new HttpError(401, errorBody(message));
export const notFound = (message = "Not found", shouldRetry = false) =>
  new HttpError(404, errorBody(message), { "x-should-retry": String(shouldRetry) });
export const forbidden = () =>
  new HttpError(403, errorBody("Unauthorized", { code: "unauthorized", param: "access_token", type: "authorization" }));
export const badRequest = (error: string, details?: unknown) =>
  new HttpError(400, errorBody(error, details === undefined ? {} : { details }));
export const unprocessable = (message: string) => new HttpError(422, errorBody(message));
export const methodNotAllowed = (allow: string) => new HttpError(405, errorBody("Method Not Allowed"), { allow });
export const internalServerError = () => new HttpError(500, errorBody("Internal Server Error"));
/** A live request the environment's realtime concurrency limit does not admit (retry in a second). */
export const tooManyConcurrentRequests = () =>
  new HttpError(429, errorBody("Too many concurrent requests"), { "retry-after": "1" });
/** The realtime concurrency limiter cannot be asked (Redis down, REALTIME_LIMITER_REDIS_DOWN_POLICY=closed). */
export const limiterUnavailable = () =>
  new HttpError(503, errorBody("Realtime concurrency limiter unavailable"), { "retry-after": "1" });
