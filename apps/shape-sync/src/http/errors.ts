/**
 * HTTP errors that render themselves (house rule 4), one body shape for all of them (§6.1, core
 * `ErrorBody`), except the 409 whose body is the must-refetch control message (§6.2).
 */
import {
  INVALID_REQUEST_MESSAGE,
  MUST_REFETCH_BODY,
  SUBSET_ERROR_FIELD,
  type ControlMessage,
  type ErrorBody,
  type FieldErrors,
} from "@runfeed/core";
import type { CompiledShape } from "../shapes/definition.js";
import type { ShapeCatalog } from "../shapes/shape-catalog.js";

export class HttpError extends Error {
  override name = "HttpError";
  readonly body: ErrorBody | ControlMessage[];
  readonly headers: Record<string, string>;
  constructor(
    readonly status: number,
    message: string,
    options: { errors?: FieldErrors; code?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.body = {
      message,
      ...(options.errors && { errors: options.errors }),
      ...(options.code && { code: options.code }),
    };
    this.headers = options.headers ?? {};
  }
}

/** 400 with the messages per parameter. */
export class InvalidRequestError extends HttpError {
  override name = "InvalidRequestError";
  constructor(readonly errors: FieldErrors) {
    super(400, INVALID_REQUEST_MESSAGE, { errors });
  }
  static field(field: string, message: string): InvalidRequestError {
    return new InvalidRequestError({ [field]: [message] });
  }
  /** A subset parameter's error: `{"errors":{"subset":{"<field>":["…"]}}}`. */
  static subsetField(field: string, message: string): InvalidRequestError {
    return new InvalidRequestError({ [SUBSET_ERROR_FIELD]: { [field]: [message] } });
  }
}

export class UnauthorizedError extends HttpError {
  override name = "UnauthorizedError";
  constructor() {
    super(401, "Unauthorized - Invalid API secret");
  }
}

export class MustRefetchError extends HttpError {
  override name = "MustRefetchError";
  override readonly body = MUST_REFETCH_BODY;
  constructor(readonly newHandle: string | undefined) {
    super(409, "Must refetch");
  }
}

export class ServiceUnavailableError extends HttpError {
  override name = "ServiceUnavailableError";
  constructor(message: string, retryAfterSeconds: number, code?: string) {
    super(503, message, { code, headers: { "retry-after": String(retryAfterSeconds) } });
  }
}

/** 409 (§6.2) carrying the handle of the shape's current version, created if needed. */
export async function mustRefetch(catalog: Pick<ShapeCatalog, "getOrCreate">, compiled: CompiledShape): Promise<never> {
  const current = await catalog.getOrCreate(compiled);
  throw new MustRefetchError(current.handle);
}

/** Postgres errors caused by the request's where clause (data exceptions, syntax/undefined objects). */
export function isPgUserError(err: unknown): err is Error & { code: string } {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && (code.startsWith("22") || code.startsWith("42"));
}
