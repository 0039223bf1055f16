/**
 * One error class per failure (style.md rule 4). Each sets `name` and says what to do next.
 * HTTP failures are built from a Response (or an Electric FetchError) by `ApiError.from*`.
 */
export class RunfeedError extends Error {
  override name = "RunfeedError";
}

/** `configure()` was not called, or a per-call override is missing a required value. */
export class ConfigurationError extends RunfeedError {
  override name = "ConfigurationError";
}

/** The server answered with a non-2xx status. Subclasses distinguish the statuses callers act on. */
export class ApiError extends RunfeedError {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly url: string,
    /** The parsed JSON body, or the text body, or undefined. */
    readonly body: unknown,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The server's own `error` message when the body has one. */
  get serverMessage(): string | undefined {
    const body = this.body as { error?: unknown; message?: unknown } | undefined;
    if (body && typeof body === "object") {
      if (typeof body.error === "string") return body.error;
      if (typeof body.message === "string") return body.message;
    }
    return typeof this.body === "string" && this.body.length > 0 ? this.body : undefined;
  }

  static async fromResponse(response: Response, url = response.url): Promise<ApiError> {
    const text = await response.text().catch(() => "");
    let body: unknown = text.length > 0 ? text : undefined;
    try {
      if (text) body = JSON.parse(text);
    } catch {
      // keep the text body
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((value, key) => (headers[key] = value));
    return ApiError.fromStatus(response.status, url, body, headers);
  }

  static fromStatus(status: number, url: string, body: unknown, headers: Record<string, string> = {}): ApiError {
    const probe = new ApiError(status, url, body, "", headers);
    const server = probe.serverMessage;
    const detail = server ? `: ${server}` : "";
    const where = safePath(url);
    switch (status) {
      case 400:
        return new BadRequestError(
          status,
          url,
          body,
          `${where} rejected the request as invalid (400)${detail}. Check the arguments you passed.`,
          headers,
        );
      case 401:
        return new AuthenticationError(
          status,
          url,
          body,
          `${where} did not accept the access token (401)${detail}. Pass a valid secret key or an unexpired public token (configure({ accessToken }) or the per-call accessToken).`,
          headers,
        );
      case 403:
        return new PermissionDeniedError(
          status,
          url,
          body,
          `${where} refused access (403)${detail}. The token is valid but its scopes do not cover this resource; create a public token with e.g. { read: { runs: [runId] } }.`,
          headers,
        );
      case 404:
        return new NotFoundError(
          status,
          url,
          body,
          `${where} was not found (404)${detail}. Check the id and that the token belongs to the run's environment, and that baseURL points at a runfeed server.`,
          headers,
        );
      case 413:
        return new PayloadTooLargeError(
          status,
          url,
          body,
          `${where} rejected the body as too large (413)${detail}.`,
          headers,
        );
      case 422:
        return new UnprocessableEntityError(
          status,
          url,
          body,
          `${where} could not process the request (422)${detail}.`,
          headers,
        );
      case 429:
        return new RateLimitError(
          status,
          url,
          body,
          `${where} is rate limiting this environment (429)${detail}. Close unused subscriptions or retry later.`,
          headers,
        );
      default:
        if (status >= 500) {
          return new InternalServerError(
            status,
            url,
            body,
            `${where} failed with ${status}${detail}. This is a server problem; retries were exhausted.`,
            headers,
          );
        }
        return new ApiError(status, url, body, `${where} answered ${status}${detail}.`, headers);
    }
  }
}

export class BadRequestError extends ApiError {
  override name = "BadRequestError";
}
export class AuthenticationError extends ApiError {
  override name = "AuthenticationError";
}
export class PermissionDeniedError extends ApiError {
  override name = "PermissionDeniedError";
}
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
}
export class PayloadTooLargeError extends ApiError {
  override name = "PayloadTooLargeError";
}
export class UnprocessableEntityError extends ApiError {
  override name = "UnprocessableEntityError";
}
export class RateLimitError extends ApiError {
  override name = "RateLimitError";
}
export class InternalServerError extends ApiError {
  override name = "InternalServerError";
}

/** The network failed (DNS, refused connection, CORS rejection in a browser) and retries were exhausted. */
export class ConnectionError extends RunfeedError {
  override name = "ConnectionError";
  constructor(
    readonly url: string,
    override readonly cause: unknown,
  ) {
    super(
      `Could not reach ${safePath(url)}: ${cause instanceof Error ? cause.message : String(cause)}. Check baseURL, that the server is running, and (in a browser) that it allows this origin (CORS).`,
    );
  }
}

/**
 * A feed response lacked the Electric headers (electric-handle, electric-offset, electric-schema…).
 * In a browser this almost always means a proxy or the server does not expose them with
 * access-control-expose-headers.
 */
export class MissingRealtimeHeadersError extends RunfeedError {
  override name = "MissingRealtimeHeadersError";
  constructor(
    readonly url: string,
    readonly missing: string[],
  ) {
    super(
      `The realtime response from ${safePath(url)} lacks ${missing.join(", ")}. If a proxy sits in front of runfeed, make it pass these headers through and list them in access-control-expose-headers.`,
    );
  }
}

/** A streamed run row could not be turned into a run (a required column is missing or malformed). */
export class RunParseError extends RunfeedError {
  override name = "RunParseError";
}

function safePath(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return url;
  }
}
