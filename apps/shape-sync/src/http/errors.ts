/** HTTP errors that render themselves (house rule 4). Bodies per §6.1. */
import { MUST_REFETCH_BODY } from "@runfeed/core";

export class HttpError extends Error {
  override name = "HttpError";
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(
      typeof body === "object" && body && "message" in body
        ? String((body as { message: unknown }).message)
        : `HTTP ${status}`,
    );
  }
}

export type FieldErrors = Record<string, string[]>;

export class InvalidRequestError extends HttpError {
  override name = "InvalidRequestError";
  constructor(readonly errors: FieldErrors | Record<string, unknown>) {
    super(400, { message: "Invalid request", errors });
  }
  static field(field: string, message: string): InvalidRequestError {
    return new InvalidRequestError({ [field]: [message] });
  }
}

export class UnauthorizedError extends HttpError {
  override name = "UnauthorizedError";
  constructor() {
    super(401, { message: "Unauthorized - Invalid API secret" });
  }
}

export class MustRefetchError extends HttpError {
  override name = "MustRefetchError";
  constructor(readonly newHandle: string | undefined) {
    super(409, MUST_REFETCH_BODY);
  }
}

export class ServiceUnavailableError extends HttpError {
  override name = "ServiceUnavailableError";
  constructor(body: Record<string, unknown>, retryAfterSeconds: number) {
    super(503, body, { "retry-after": String(retryAfterSeconds) });
  }
}
