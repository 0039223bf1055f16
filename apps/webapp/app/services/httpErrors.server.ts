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
/**
 * A dependency this instance cannot reach or use right now: a socket it cannot open or that failed
 * (out of file descriptors, refused, reset, timed out), or Postgres refusing or dropping the connection
 * (SQLSTATE classes 08 and 53, and 57P01–57P03), read through Prisma's driver-adapter wrapping too.
 * The request failed for want of a dependency, not because of anything in it: a 503 with retry-after
 * instead of a 500. (As with any 5xx, a connection lost mid-statement leaves that statement's outcome
 * to the database; the client retries as it would after a 500.)
 */
export function dependencyUnavailable(error: unknown): HttpError | undefined {
  const e = error as { code?: unknown; meta?: { driverAdapterError?: { cause?: { originalCode?: unknown } } } };
  const code = e?.meta?.driverAdapterError?.cause?.originalCode ?? e?.code;
  if (typeof code !== "string" || !(UNAVAILABLE_SOCKET.has(code) || /^(08|53|57P0[123])/.test(code))) return undefined;
  return new HttpError(503, errorBody("Service temporarily unavailable"), { "retry-after": "1" });
}
const UNAVAILABLE_SOCKET = new Set([
  "EMFILE",
  "ENFILE",
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EAI_AGAIN",
]);

/** The realtime concurrency limiter cannot be asked (Redis down, REALTIME_LIMITER_REDIS_DOWN_POLICY=closed). */
export const limiterUnavailable = () =>
  new HttpError(503, errorBody("Realtime concurrency limiter unavailable"), { "retry-after": "1" });
