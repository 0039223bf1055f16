/**
 * One pipeline for every API route (style.md rule 6): a route declares its schemas, auth, resource
 * lookup and authorization as config, and gets a typed handler.
 *
 *   preflight → authenticate → validate params/query/body (400) → find resource (404)
 *   → authorize (403) → handler → CORS wrap
 *
 * Thrown HttpErrors and Responses become responses; anything else is logged once and becomes
 * a 500 with a generic JSON body (never a stack).
 */
import type { ActionFunctionArgs, AppLoadContext, LoaderFunctionArgs } from "@remix-run/node";
import {
  API_VERSION_HEADER,
  RETRY_AFTER_HEADER,
  TRIGGER_API_VERSION,
  TRIGGER_BRANCH_HEADER,
  type ScopeResource,
  type TriggerApiVersion,
  type UrgencyClass,
} from "@runfeed/core";
import type { z, ZodType } from "zod";
import { type AuthenticateOptions, type Authentication, type RequestHead, bearerToken } from "./auth.server";
import { type TtlCache, cachedLookup } from "./ttlCache.server";
import {
  HttpError,
  badRequest,
  dependencyUnavailable,
  forbidden,
  internalServerError,
  methodNotAllowed,
  notFound,
} from "./httpErrors.server";
import type { Services } from "./services.server";
import { applyCors, preflightResponse } from "./cors.server";

export type ApiVersion = TriggerApiVersion | "none";

type Infer<T> = T extends ZodType ? z.output<T> : undefined;
type Method = "GET" | "POST" | "PUT" | "DELETE";

export interface ApiRouteConfig<
  TParams extends ZodType | undefined,
  TQuery extends ZodType | undefined,
  TBody extends ZodType | undefined,
  TResource,
> {
  /** Route name for logs and metrics, e.g. "api.v1.tasks.trigger". */
  name: string;
  method: Method;
  params?: TParams;
  searchParams?: TQuery;
  /** JSON body schema; leave out to read the body yourself (e.g. NDJSON). */
  body?: TBody;
  maxContentLength?: number;
  /**
   * The write's urgency class (docs/decisions/092-write-pipeline.md): "critical" marks it in flight for
   * the critical-first admission; a buffered class waits for its turn there before its body is read
   * (429 with retry-after when it waited too long). Reads leave it out.
   */
  urgency?: UrgencyClass;
  /** Accept public JWTs (otherwise secret keys only). */
  allowJWT?: boolean;
  /** Answer browser preflights and add CORS headers. */
  cors?: boolean;
  findResource?: (args: {
    params: Infer<TParams>;
    searchParams: Infer<TQuery>;
    authentication: Authentication;
    services: Services;
  }) => Promise<TResource | null | undefined>;
  notFoundMessage?: string;
  shouldRetryNotFound?: boolean;
  /**
   * Remember successful authentications by credential for a moment (the realtime feeds: every live
   * client re-polls with the same token each time it is answered). See rememberedAuthentication.
   */
  rememberAuthentication?: (services: Services) => TtlCache<Promise<Authentication>>;
  /** Any-of: the caller's ability must grant `action` on at least one resource. */
  authorization?: {
    action: string;
    resources: (resource: TResource, params: Infer<TParams>, searchParams: Infer<TQuery>) => ScopeResource[];
  };
}

export interface ApiHandlerArgs<TParams, TQuery, TBody, TResource> {
  request: Request;
  params: TParams;
  searchParams: TQuery;
  body: TBody;
  authentication: Authentication;
  resource: TResource;
  services: Services;
  apiVersion: ApiVersion;
  signal: AbortSignal;
  /** The raw request body, read as it arrives (the hot path's node stream, else `request.body`). */
  bodyStream: AsyncIterable<Uint8Array> | null;
}

export function createApiRoute<
  TParams extends ZodType | undefined = undefined,
  TQuery extends ZodType | undefined = undefined,
  TBody extends ZodType | undefined = undefined,
  TResource = true,
>(
  config: ApiRouteConfig<TParams, TQuery, TBody, TResource>,
  handler: (args: ApiHandlerArgs<Infer<TParams>, Infer<TQuery>, Infer<TBody>, TResource>) => Promise<Response>,
) {
  async function run(request: Request, rawParams: Record<string, string | undefined>, context: AppLoadContext) {
    const { services } = context;
    const started = performance.now();
    let response: Response;
    if (config.cors && request.method === "OPTIONS") {
      response = preflightResponse(request);
    } else if (request.method !== config.method && !(config.method === "GET" && request.method === "HEAD")) {
      response = methodNotAllowed(config.method).toResponse();
    } else {
      // Node's web ReadableStream is async iterable (the DOM typings do not say so).
      const bodyStream = context.requestBody ?? (request.body as AsyncIterable<Uint8Array> | null);
      response = await handleInTurn(request, rawParams, services, bodyStream);
    }
    observe(services, response.status, started);
    return config.cors ? applyCors(request, response) : response;
  }

  /** handle(), marked critical or admitted first as its urgency class says (criticalFirst.server.ts). */
  async function handleInTurn(
    request: Request,
    rawParams: Record<string, string | undefined>,
    services: Services,
    bodyStream: AsyncIterable<Uint8Array> | null,
  ) {
    const urgency = config.urgency;
    if (urgency === undefined) return handle(request, rawParams, services, bodyStream);
    const gate = services.writePipeline.criticalFirst;
    const release = urgency === "critical" ? gate.critical() : await gate.buffered(urgency);
    if (!release) {
      await request.arrayBuffer().catch(() => {}); // its body, unparsed, so the connection can be reused
      services.metrics.pipelineRefused.inc({ class: urgency });
      return Response.json(
        {
          error: `Critical writes are being served first; the ${urgency}-urgency write was not queued, retry after 1 s`,
          code: "write_buffer_busy",
        },
        { status: 429, headers: { [RETRY_AFTER_HEADER]: "1" } },
      );
    }
    try {
      return await handle(request, rawParams, services, bodyStream);
    } finally {
      release();
    }
  }

  async function handle(
    request: Request,
    rawParams: Record<string, string | undefined>,
    services: Services,
    bodyStream: AsyncIterable<Uint8Array> | null,
  ) {
    const admitted = await admit(request, rawParams, services, () => readJson(request, config.maxContentLength));
    if (!admitted.ok) return admitted.response;
    try {
      return await handler({ ...admitted.args, request, signal: request.signal, bodyStream });
    } catch (error) {
      return errorResponse(error, services);
    }
  }

  /**
   * The pipeline up to the handler: authenticate → validate → find → authorize. Also used by the
   * realtime feeds' node fast path (server/app.ts), whose request is a view of the node request.
   */
  async function admit(
    request: ApiRequestHead,
    rawParams: Record<string, string | undefined>,
    services: Services,
    readBody: () => Promise<unknown> = async () => undefined,
  ): Promise<Admission<Infer<TParams>, Infer<TQuery>, Infer<TBody>, TResource>> {
    try {
      const options = { allowJWT: config.allowJWT ?? false };
      const authentication = config.rememberAuthentication
        ? await rememberedAuthentication(config.rememberAuthentication(services), services, request, options)
        : await services.auth.authenticate(request, options);
      const params = validate(config.params, rawParams, "Params Error") as Infer<TParams>;
      // The query is parsed only for a route that declares it (the feeds' hot path mostly does not).
      const searchParams = (
        config.searchParams
          ? validate(config.searchParams, Object.fromEntries(new URL(request.url).searchParams), "Query Error")
          : undefined
      ) as Infer<TQuery>;
      const body = (
        config.body ? validate(config.body, await readBody(), "Invalid request body") : undefined
      ) as Infer<TBody>;

      let resource = true as TResource;
      if (config.findResource) {
        const found = await config.findResource({ params, searchParams, authentication, services });
        if (!found) throw notFound(config.notFoundMessage ?? "Not found", config.shouldRetryNotFound ?? false);
        resource = found;
      }
      if (config.authorization) {
        const resources = config.authorization.resources(resource, params, searchParams);
        if (!authentication.ability.canAny(config.authorization.action, resources)) throw forbidden();
      }
      const apiVersion: ApiVersion =
        request.headers.get(API_VERSION_HEADER) === TRIGGER_API_VERSION ? TRIGGER_API_VERSION : "none";
      return { ok: true, args: { params, searchParams, body, authentication, resource, services, apiVersion } };
    } catch (error) {
      return { ok: false, response: errorResponse(error, services) };
    }
  }

  function errorResponse(error: unknown, services: Services): Response {
    if (error instanceof HttpError) {
      if (error.status >= 500) services.logger.error({ route: config.name, err: error.message }, "request failed");
      return error.toResponse();
    }
    if (error instanceof Response) return error;
    const invalid = postgresDataException(error);
    if (invalid) return badRequest(`Invalid value: ${invalid}`).toResponse();
    const unavailable = dependencyUnavailable(error);
    if (unavailable) {
      services.logger.error({ route: config.name, err: error }, "dependency unavailable: answered 503");
      return unavailable.toResponse();
    }
    services.logger.error({ route: config.name, err: error }, "unhandled error in API route");
    return internalServerError().toResponse();
  }

  /** Counts a response in the route's metrics (the fast path's answers too). */
  function observe(services: Services, status: number, started: number) {
    services.metrics.countRequest(config.name, status);
    services.metrics.httpDuration.observe({ route: config.name }, (performance.now() - started) / 1000);
  }

  const entry = ({ request, params, context }: LoaderFunctionArgs | ActionFunctionArgs) =>
    run(request, params, context);
  return { loader: entry, action: entry, admit, observe };
}

/** What the pipeline reads of a request before the handler (a Fetch Request, or a view of a node one). */
export interface ApiRequestHead extends RequestHead {
  readonly url: string;
}

/** The handler's arguments, without the request itself. */
export type AdmittedArgs<TParams, TQuery, TBody, TResource> = Omit<
  ApiHandlerArgs<TParams, TQuery, TBody, TResource>,
  "request" | "signal" | "bodyStream"
>;

export type Admission<TParams, TQuery, TBody, TResource> =
  | { ok: true; args: AdmittedArgs<TParams, TQuery, TBody, TResource> }
  | { ok: false; response: Response };

/**
 * An authentication remembered by credential (bearer token and branch header) for the cache's TTL,
 * shared by concurrent requests with the same credential; a public JWT's is used only while its `exp`
 * is in the future (jose's rule: `exp` > now in whole seconds). Failures are never remembered. So
 * for up to the TTL, a token keeps the environment it was authenticated with: an archival, a rolled
 * key or a changed realtime limit is seen by its next request after that
 * (docs/decisions/072-realtime-sse-and-cheap-repoll.md).
 */
async function rememberedAuthentication(
  cache: TtlCache<Promise<Authentication>>,
  services: Services,
  request: RequestHead,
  options: AuthenticateOptions,
): Promise<Authentication> {
  const token = bearerToken(request);
  if (!token) return services.auth.authenticate(request, options);
  const key = credentialKey(token, request.headers.get(TRIGGER_BRANCH_HEADER));
  const authentication = await cachedLookup(cache, key, () => services.auth.authenticate(request, options));
  if (authentication.type === "PUBLIC_JWT" && authentication.exp <= Math.floor(Date.now() / 1000)) {
    cache.delete(key);
    return services.auth.authenticate(request, options);
  }
  return authentication;
}

/** The key a credential (bearer token and branch header) is remembered by. */
export const credentialKey = (token: string, branch: string | null) => `${token}\0${branch ?? ""}`;

/**
 * The message of a Postgres data exception (SQLSTATE class 22: a value Postgres refuses, e.g. NUL in
 * text) raised through pg or Prisma's driver adapter, which the request's input caused: a 400.
 */
function postgresDataException(error: unknown): string | undefined {
  const e = error as {
    code?: unknown;
    message?: unknown;
    meta?: { driverAdapterError?: { cause?: { originalCode?: unknown; originalMessage?: unknown } } };
  };
  const cause = e?.meta?.driverAdapterError?.cause;
  const [code, message] = cause ? [cause.originalCode, cause.originalMessage] : [e?.code, e?.message];
  return typeof code === "string" && code.startsWith("22") && typeof message === "string" ? message : undefined;
}

/** Validates with zod; a failure is a 400 whose message names each bad field. */
export function validate<T extends ZodType>(
  schema: T | undefined,
  value: unknown,
  label: string,
): z.output<T> | undefined {
  if (!schema) return undefined;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw invalidInput(label, result.error);
}

/** The 400 for input zod refused: its message names each bad field, and `details` lists them. */
export function invalidInput(label: string, error: z.ZodError): HttpError {
  const details = error.issues.map((issue) => ({
    path: issue.path.join(".") || "(root)",
    message: issue.message,
  }));
  const summary = details.map((d) => `${d.path}: ${d.message}`).join("; ");
  return badRequest(`${label}: ${summary}`, details);
}

/** Reads a JSON body with a size limit: 413 when larger, 400 when not JSON. */
export async function readJson(request: Request, maxBytes = 3 * 1024 * 1024): Promise<unknown> {
  const text = await readText(request, maxBytes);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest("Invalid JSON in request body");
  }
}

export async function readText(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  // Refused unread: close the connection, or the unread body would be taken for the next request.
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new HttpError(413, { error: "Request body too large" }, { connection: "close" });
  }
  const buffer = await request.arrayBuffer();
  if (buffer.byteLength > maxBytes) throw new HttpError(413, { error: "Request body too large" });
  return new TextDecoder().decode(buffer);
}
