/**
 * Builds the webapp: Express serving the Remix app (Vite middleware in development, the built
 * bundle in production), with `context.services`, the request's client and its CSP nonce for every
 * loader and action. In front of Remix: security headers on every answer and the Origin check on every
 * dashboard write (docs/decisions/080-dashboard-security.md).
 *
 * The hottest write routes (HOT_ROUTES, server/hotRoutes.ts) are served by the same Remix route modules,
 * called directly ahead of the static files and Remix's router (docs/decisions/070-write-path-throughput.md).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fileURLToPath } from "node:url";
import { createRequestHandler } from "@remix-run/express";
import type { AppLoadContext, ServerBuild } from "@remix-run/node";
import express from "express";
import type { WebappEnv } from "../app/env.server.js";
import { refuseCrossOrigin } from "../app/services/csrf.server.js";
import { internalServerError } from "../app/services/httpErrors.server.js";
import { compileTrust, createClientResolver } from "../app/services/requestClient.server.js";
import { securityHeaders } from "../app/services/securityHeaders.server.js";
import { createServices, type Services, type ServicesOptions } from "../app/services/services.server.js";
import { matchHotRoute, serveHotRoute } from "./hotRoutes.js";
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
        const failure = internalServerError();
        res.writeHead(failure.status, { "content-type": "application/json" });
        res.end(JSON.stringify(failure.body));
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
