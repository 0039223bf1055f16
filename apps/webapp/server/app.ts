/**
 * Builds the webapp: Express serving the Remix app (Vite middleware in development, the built
 * bundle in production), with `context.services`, the request's client and its CSP nonce for every
 * loader and action. In front of Remix: security headers on every answer and the Origin check on every
 * dashboard write (docs/decisions/080-dashboard-security.md).
 *
 * The hottest write routes (HOT_ROUTES) are served by the same Remix route modules, called directly
 * ahead of the static files and Remix's router (docs/decisions/070-write-path-throughput.md).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { createRequestHandler } from "@remix-run/express";
import type { ActionFunction, AppLoadContext, LoaderFunction, ServerBuild } from "@remix-run/node";
import express from "express";
import type { WebappEnv } from "../app/env.server.js";
import { refuseCrossOrigin } from "../app/services/csrf.server.js";
import { type DirectBody, directBodyOf } from "../app/services/directBody.server.js";
import { compileTrust, createClientResolver } from "../app/services/requestClient.server.js";
import { securityHeaders } from "../app/services/securityHeaders.server.js";
import type { FeedLoader } from "../app/services/realtime/feedRoute.server.js";
import { createServices, type Services, type ServicesOptions } from "../app/services/services.server.js";
import { STREAM_TARGETS } from "@runfeed/core";
import { applyRequestDeadline } from "./requestDeadline.js";

export const APP_ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUILD_ENTRY = `${APP_ROOT}/build/server/index.js`;

export interface Webapp {
  /** Everything but the hot routes (the handler serves those first, without Express). */
  app: express.Express;
  /** The server's request listener: HOT_ROUTES directly, the rest through `app`. */
  handler(req: IncomingMessage, res: ServerResponse): void;
  /** The HTTP server (not yet listening; see listen()). Under `pnpm dev` it also carries Vite's HMR websocket. */
  server: Server;
  services: Services;
  close(): Promise<void>;
}

export async function createWebapp(env: WebappEnv, options: ServicesOptions = {}): Promise<Webapp> {
  if (env.NODE_ENV === "production" && !existsSync(BUILD_ENTRY)) {
    throw new Error(
      `NODE_ENV=production serves the built bundle, and ${BUILD_ENTRY} is missing: run \`pnpm --filter @runfeed/webapp build\``,
    );
  }
  const services = createServices(env, options);
  const app = express();
  app.disable("x-powered-by");
  // Express (and so @remix-run/express's request.url) believes forwarded headers from the same proxies.
  app.set("trust proxy", compileTrust(env.TRUST_PROXY));
  const resolveClient = createClientResolver(env);
  // Per request: who is asking, and the nonce this document's inline scripts carry.
  app.use((req, res, next) => {
    res.locals.context = {
      services,
      client: resolveClient(req),
      cspNonce: randomBytes(16).toString("base64"),
    } satisfies AppLoadContext;
    next();
  });
  app.use(securityHeaders(), refuseCrossOrigin());

  // Production serves the built bundle (`pnpm start` builds it when stale, devstack/builds.ts);
  // development and tests run Vite, with HMR under `pnpm dev` only. The server is created here so that
  // Vite can put its HMR websocket on it (same origin: the CSP's connect-src 'self').
  // Node's request timeout would cut a stream writer's long POST; requestDeadline.ts replaces it.
  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000 });
  let build: ServerBuild | (() => Promise<ServerBuild>);
  let closeVite = async () => {};
  if (env.NODE_ENV === "production") {
    app.use("/assets", express.static(`${APP_ROOT}/build/client/assets`, { immutable: true, maxAge: "1y" }));
    app.use(express.static(`${APP_ROOT}/build/client`, { maxAge: "1h" }));
    build = (await import(BUILD_ENTRY)) as ServerBuild;
  } else {
    const vite = await import("vite");
    const hmr = env.NODE_ENV === "development";
    const viteServer = await vite.createServer({
      root: APP_ROOT,
      configFile: `${APP_ROOT}/vite.config.ts`,
      // cors: false — Vite's own CORS middleware would swallow API preflights from other origins and
      // add a second access-control-allow-origin for localhost ones; the API routes do CORS themselves.
      // Tests run many webapps at once: no HMR and no websocket server there.
      server: { middlewareMode: true, hmr: hmr ? { server } : false, ws: hmr ? undefined : false, cors: false },
      appType: "custom",
      logLevel: "warn",
    });
    app.use(viteServer.middlewares);
    build = () => viteServer.ssrLoadModule("virtual:remix/server-build") as Promise<ServerBuild>;
    closeVite = () => viteServer.close();
  }

  app.all(
    "*",
    createRequestHandler({
      build,
      mode: env.NODE_ENV,
      getLoadContext: (_req, res) => res.locals.context as AppLoadContext,
    }),
  );

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const hot = matchHotRoute(req);
    if (!hot?.streamedBody || req.method !== "POST") applyRequestDeadline(req, res, env.HTTP_REQUEST_TIMEOUT_MS);
    if (!hot) return void app(req, res);
    // The bearer-token API routes read only `services`; the client is worked out if one ever asks.
    const context: AppLoadContext = {
      services,
      get client() {
        return resolveClient(req);
      },
      cspNonce: "",
    };
    void (typeof build === "function" ? build() : Promise.resolve(build))
      .then((b) => serveHotRoute(b, hot, req, res, context, () => app(req, res)))
      .catch((error: unknown) => {
        services.logger.error({ err: error, url: req.url }, "hot route failed");
        if (res.headersSent) return void res.destroy(); // a streamed body failed midway
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: "Internal Server Error" }));
      });
  };

  server.on("request", handler);

  return {
    app,
    handler,
    server,
    services,
    async close() {
      await closeVite();
      await services.close();
    },
  };
}

/** Starts listening; resolves with the URL once ready. */
export async function listen(webapp: Webapp, port: number, host: string): Promise<{ url: string; server: Server }> {
  const { server } = webapp;
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const address = server.address();
      const actualPort = typeof address === "object" && address ? address.port : port;
      resolve({ url: `http://${host}:${actualPort}`, server });
    });
  });
}

/**
 * Routes served without Express, Remix's request conversion and its router: the Remix route module
 * (same module instance as Remix's own, from the same build) is called with a Fetch Request built
 * straight from the node request, and its Response written back. Only routes declared with
 * `createApiRoute` (which never throw and answer every method themselves) belong here; the path
 * patterns mirror their file names. The write routes' Request has no abort signal wired to the
 * connection (these handlers never use it; wiring one cost more than the rest of the conversion); the
 * realtime routes' has (serveStreamingRoute).
 */
const HOT_ROUTES: readonly HotRoute[] = [
  { id: "routes/api.v1.runs.$runId.metadata", pattern: /^\/api\/v1\/runs\/([^/]+)\/metadata\/?$/, param: "runId" },
  { id: "routes/api.v1.tasks.$taskId.trigger", pattern: /^\/api\/v1\/tasks\/([^/]+)\/trigger\/?$/, param: "taskId" },
  // The write pipeline's batched endpoints (docs/decisions/092-write-pipeline.md).
  { id: "routes/api.v1.metadata.batch", pattern: /^\/api\/v1\/metadata\/batch\/?$/ },
  { id: "routes/api.v1.logs.batch", pattern: /^\/api\/v1\/logs\/batch\/?$/ },
  // Realtime feeds (docs/decisions/071-realtime-repoll-cpu.md): GET only (no body), their handlers abort
  // the upstream long-poll and release the limiter slot through the request's signal, and their bodies
  // stream (SSE), so they get a signal wired to the connection and a streamed response.
  {
    id: "routes/realtime.v1.runs.$runId",
    pattern: /^\/realtime\/v1\/runs\/([^/]+)\/?$/,
    param: "runId",
    realtime: true,
  },
  { id: "routes/realtime.v1.runs", pattern: /^\/realtime\/v1\/runs\/?$/, realtime: true },
  {
    id: "routes/realtime.v1.batches.$batchId",
    pattern: /^\/realtime\/v1\/batches\/([^/]+)\/?$/,
    param: "batchId",
    realtime: true,
  },
  // A stream writer's create (PUT) and its NDJSON body (POST; docs/decisions/081-realtime-streams.md):
  // the body, unsized and open for as long as the task writes, reaches the route as the node request
  // (`context.requestBody`), read chunk by chunk with no web stream in between. HEAD stays with Remix.
  {
    id: "routes/realtime.v1.streams.$runId.$target.$streamId",
    pattern: new RegExp(`^/realtime/v1/streams/([^/]+)/(${STREAM_TARGETS.join("|")})/([^/]+)/?$`),
    param: ["runId", "target", "streamId"],
    realtime: true,
    streamedBody: true,
  },
  // Stream readers (docs/decisions/081-realtime-streams.md): SSE bodies held open, like the feeds.
  {
    id: "routes/realtime.v1.streams.$runId.input.$streamId",
    pattern: /^\/realtime\/v1\/streams\/([^/]+)\/input\/([^/]+)\/?$/,
    param: ["runId", "streamId"],
    realtime: true,
  },
  {
    id: "routes/realtime.v1.streams.$runId.$streamId",
    pattern: /^\/realtime\/v1\/streams\/([^/]+)\/([^/]+)\/?$/,
    param: ["runId", "streamId"],
    realtime: true,
  },
];
/** Larger (or unsized, chunked) bodies take the Remix path, which streams them to the route. */
const HOT_BODY_LIMIT = 256 * 1024;

interface HotRoute {
  id: string;
  pattern: RegExp;
  /** The names of the pattern's groups, in order. */
  param?: string | readonly string[];
  /** Signal tied to the connection, streamed response body (the realtime proxy routes). */
  realtime?: boolean;
  /** PUT/POST whose body the route reads as it arrives (`context.requestBody`); no size limit here. */
  streamedBody?: boolean;
}

interface HotMatch {
  id: string;
  params: Record<string, string>;
  realtime: boolean;
  streamedBody: boolean;
}

function matchHotRoute(req: IncomingMessage): HotMatch | undefined {
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
      const names = typeof route.param === "string" ? [route.param] : (route.param ?? []);
      const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(m[i + 1]!)]));
      return { id: route.id, params, realtime, streamedBody };
    } catch {
      return undefined; // malformed escapes: let Remix answer as it always has
    }
  }
  return undefined;
}

async function serveHotRoute(
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
