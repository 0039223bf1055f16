/**
 * The hottest routes, served ahead of Express, static files and Remix's router
 * (docs/decisions/070-write-path-throughput.md): server/app.ts's request listener asks
 * matchHotRoute first and hands a match to serveHotRoute.
 *
 * Routes served without Express, Remix's request conversion and its router: the Remix route module
 * (same module instance as Remix's own, from the same build) is called with a Fetch Request built
 * straight from the node request, and its Response written back. Only routes declared with
 * `createApiRoute` (which never throw and answer every method themselves) belong here. Each is named
 * by its Remix route id; its path pattern is derived from the id (hotRoute), and
 * test/hotRoutes.test.ts checks every one against Remix's own route table. The write routes' Request
 * has no abort signal wired to the connection (these handlers never use it; wiring one cost more than
 * the rest of the conversion); the realtime routes' has (serveStreamingRoute).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { ActionFunction, AppLoadContext, LoaderFunction, ServerBuild } from "@remix-run/node";
import { STREAM_TARGETS } from "@runfeed/core";
import { type DirectBody, directBodyOf } from "../app/services/directBody.server.js";
import type { FeedLoader } from "../app/services/realtime/feedRoute.server.js";

export const HOT_ROUTES: readonly HotRoute[] = [
  hotRoute("routes/api.v1.runs.$runId.metadata"),
  hotRoute("routes/api.v1.tasks.$taskId.trigger"),
  // The write pipeline's batched endpoints (docs/decisions/092-write-pipeline.md).
  hotRoute("routes/api.v1.metadata.batch"),
  hotRoute("routes/api.v1.logs.batch"),
  // Realtime feeds (docs/decisions/071-realtime-repoll-cpu.md): GET only (no body), their handlers abort
  // the upstream long-poll and release the limiter slot through the request's signal, and their bodies
  // stream (SSE), so they get a signal wired to the connection and a streamed response.
  hotRoute("routes/realtime.v1.runs.$runId", { realtime: true }),
  hotRoute("routes/realtime.v1.runs", { realtime: true }),
  hotRoute("routes/realtime.v1.batches.$batchId", { realtime: true }),
  // A stream writer's create (PUT) and its NDJSON body (POST; docs/decisions/081-realtime-streams.md):
  // the body, unsized and open for as long as the task writes, reaches the route as the node request
  // (`context.requestBody`), read chunk by chunk with no web stream in between. HEAD stays with Remix.
  hotRoute("routes/realtime.v1.streams.$runId.$target.$streamId", {
    realtime: true,
    streamedBody: true,
    values: { target: STREAM_TARGETS },
  }),
  // Stream readers (docs/decisions/081-realtime-streams.md): SSE bodies held open, like the feeds.
  hotRoute("routes/realtime.v1.streams.$runId.input.$streamId", { realtime: true }),
  hotRoute("routes/realtime.v1.streams.$runId.$streamId", { realtime: true }),
];

/**
 * A hot route from its Remix route id, by the flat-routes file convention these routes use: each dot
 * is a `/`, a `$name` segment is a parameter (no layouts, pathless or optional segments among them),
 * matching any segment unless `values` lists the ones it takes.
 */
function hotRoute(id: string, options: Pick<HotRoute, "realtime" | "streamedBody" | "values"> = {}): HotRoute {
  const segments = id.replace(/^routes\//, "").split(".");
  const param = segments.filter((segment) => segment.startsWith("$")).map((segment) => segment.slice(1));
  const literal = (text: string) => text.replace(/\W/g, "\\$&");
  const path = segments.map((segment) => {
    if (!segment.startsWith("$")) return literal(segment);
    const values = options.values?.[segment.slice(1)];
    return values ? `(${values.map(literal).join("|")})` : "([^/]+)";
  });
  return { id, pattern: new RegExp(`^/${path.join("/")}/?$`), param, ...options };
}

/** Larger (or unsized, chunked) bodies take the Remix path, which streams them to the route. */
const HOT_BODY_LIMIT = 256 * 1024;

export interface HotRoute {
  /** The Remix route id (its module in the build). */
  id: string;
  pattern: RegExp;
  /** The names of the pattern's groups, in order. */
  param: readonly string[];
  /** Parameters restricted to a few values (any other value is not this route's). */
  values?: Readonly<Record<string, readonly string[]>>;
  /** Signal tied to the connection, streamed response body (the realtime proxy routes). */
  realtime?: boolean;
  /** PUT/POST whose body the route reads as it arrives (`context.requestBody`); no size limit here. */
  streamedBody?: boolean;
}

export interface HotMatch {
  id: string;
  params: Record<string, string>;
  realtime: boolean;
  streamedBody: boolean;
}

export function matchHotRoute(req: IncomingMessage): HotMatch | undefined {
  const { method } = req;
  if (method !== "GET" && method !== "PUT" && method !== "POST" && method !== "OPTIONS") return undefined;
  const url = req.url ?? "/";
  const q = url.indexOf("?");
  const pathname = q === -1 ? url : url.slice(0, q);
  const realtime = pathname.startsWith("/realtime/v1/");
  if (!realtime && !pathname.startsWith("/api/v1/")) return undefined;
  if (q !== -1 && url.includes("_data", q)) return undefined; // Remix data requests stay with Remix
  const streamedBody = realtime && (method === "PUT" || method === "POST");
  if (method === "PUT" || method === "POST") {
    const length = Number(req.headers["content-length"]);
    if (!streamedBody && (!(length <= HOT_BODY_LIMIT) || req.headers["transfer-encoding"] !== undefined))
      return undefined;
  } else if (
    realtime &&
    (req.headers["content-length"] !== undefined || req.headers["transfer-encoding"] !== undefined)
  ) {
    return undefined; // a GET with a body: Remix's path, as before
  }
  for (const route of HOT_ROUTES) {
    if ((route.realtime ?? false) !== realtime) continue;
    // The realtime GET routes' PUT/POST (a 405, and any body) stay with Remix, and the reverse.
    if ((route.streamedBody ?? false) !== streamedBody) continue;
    const m = route.pattern.exec(pathname);
    if (!m) continue;
    try {
      const params = Object.fromEntries(route.param.map((name, i) => [name, decodeURIComponent(m[i + 1]!)]));
      return { id: route.id, params, realtime, streamedBody };
    } catch {
      return undefined; // malformed escapes: let Remix answer as it always has
    }
  }
  return undefined;
}

export async function serveHotRoute(
  build: ServerBuild,
  hot: HotMatch,
  req: IncomingMessage,
  res: ServerResponse,
  context: AppLoadContext,
  fallback: () => void,
) {
  const module = build.routes[hot.id]?.module as
    | { loader?: LoaderFunction | FeedLoader; action?: ActionFunction }
    | undefined;
  // The realtime feeds' GETs: no Fetch Request or Response at all (feedRoute.server.ts).
  const loader = module?.loader;
  if (loader && "serveNode" in loader && req.method === "GET")
    return loader.serveNode(req, res, hot.params, context.services);
  const fn = req.method === "GET" ? module?.loader : module?.action;
  if (!fn) return fallback();
  if (hot.streamedBody) {
    if (req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0)
      context.requestBody = req;
    const request = await toFetchRequest(req, false);
    const response = (await fn({ request, params: hot.params, context })) as Response;
    return sendFetchResponse(res, response);
  }
  if (hot.realtime) return serveStreamingRoute(fn, hot, req, res, context);
  const request = await toFetchRequest(req, req.method !== "GET");
  const response = (await fn({ request, params: hot.params, context })) as Response;
  await sendFetchResponse(res, response);
}

/**
 * GET routes whose handlers use the request's signal: as @remix-run/express, the signal aborts when
 * the response can no longer be written (`close` before `finish`), and the body is streamed back with
 * backpressure; a client that goes away cancels the body (releasing what the route holds for it).
 */
async function serveStreamingRoute(
  fn: LoaderFunction | ActionFunction,
  hot: HotMatch,
  req: IncomingMessage,
  res: ServerResponse,
  context: AppLoadContext,
) {
  const controller = new AbortController();
  let open = true;
  const onClose = () => {
    open = false;
    if (!res.writableFinished) controller.abort();
  };
  res.once("close", onClose);
  const pairs: Array<[string, string]> = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  const request = new Request(`http://${req.headers.host ?? "localhost"}${req.url}`, {
    method: req.method,
    headers: pairs,
    signal: controller.signal,
  });
  const response = (await fn({ request, params: hot.params, context })) as Response;
  res.statusCode = response.status;
  res.statusMessage = response.statusText;
  for (const [key, value] of response.headers) res.appendHeader(key, value);
  // As @remix-run/express: an event stream's headers go out at once (its first event may be far off).
  if (/text\/event-stream/i.test(response.headers.get("content-type") ?? "")) res.flushHeaders();
  const direct = directBodyOf(response);
  if (direct) return writeDirectBody(direct, res, () => open);
  const body = response.body;
  if (!body) return void res.end();
  if (!open) return void (await body.cancel().catch(() => {}));
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => {});
  res.once("close", cancel);
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      if (!open) return;
      if (!res.write(r.value)) await drained(res);
    }
  } catch (error) {
    if (!open) return;
    throw error;
  } finally {
    res.off("close", cancel);
  }
  if (open) res.end();
}

/**
 * A body the route hands over as texts (directBody.server.ts, the stream readers' SSE): each text is
 * one socket write (it holds every event ready at that moment; the writes of one tick are corked into
 * one), with backpressure, and no web stream in between.
 */
async function writeDirectBody(body: DirectBody, res: ServerResponse, isOpen: () => boolean) {
  res.once("close", body.cancel);
  try {
    for (let text = await body.next(); text !== undefined; text = await body.next()) {
      if (!isOpen()) return;
      if (!res.write(text)) await drained(res);
    }
  } catch (error) {
    if (!isOpen()) return;
    throw error;
  } finally {
    res.off("close", body.cancel);
    body.cancel();
  }
  if (isOpen()) res.end();
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

/** As @remix-run/express's createRemixRequest, with the (small, sized) body read up front, or none. */
async function toFetchRequest(req: IncomingMessage, withBody: boolean): Promise<Request> {
  const pairs: Array<[string, string]> = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!, raw[i + 1]!]);
  const init: RequestInit = { method: req.method, headers: pairs };
  if (withBody) init.body = (await readBody(req)) as unknown as BodyInit;
  return new Request(`http://${req.headers.host ?? "localhost"}${req.url}`, init);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** As @remix-run/express's sendRemixResponse, for bodies the API routes build in memory. */
async function sendFetchResponse(res: ServerResponse, response: Response) {
  res.statusCode = response.status;
  res.statusMessage = response.statusText;
  for (const [key, value] of response.headers) res.appendHeader(key, value);
  if (!response.body) return void res.end();
  const chunks: Uint8Array[] = [];
  const reader = response.body.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) chunks.push(r.value);
  res.end(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
}
