/**
 * An error that knows its HTTP status and renders itself as JSON (style.md rule 4).
 * Route code throws these; the API pipeline turns them into responses.
 */
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
    readonly body: Record<string, unknown>,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof body.error === "string" ? body.error : `HTTP ${status}`);
  }

  toResponse(): Response {
    return Response.json(this.body, { status: this.status, headers: this.headers });
  }
}

export const unauthorized = (message: string) => new HttpError(401, { error: message });
export const notFound = (message = "Not found", shouldRetry = false) =>
  new HttpError(404, { error: message }, { "x-should-retry": String(shouldRetry) });
export const forbidden = () =>
  new HttpError(403, { error: "Unauthorized", code: "unauthorized", param: "access_token", type: "authorization" });
export const badRequest = (error: string, details?: unknown) =>
  new HttpError(400, details === undefined ? { error } : { error, details });
export const unprocessable = (message: string) => new HttpError(422, { error: message });
