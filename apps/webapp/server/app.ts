/**
 * Builds the webapp: Express serving the Remix app (Vite middleware in development, the built
 * bundle in production), with `context.services` for every loader and action.
 */
import { existsSync } from "node:fs";
import type { Server } from "node:http";
import { fileURLToPath } from "node:url";
import { createRequestHandler } from "@remix-run/express";
import type { ServerBuild } from "@remix-run/node";
import express from "express";
import type { WebappEnv } from "../app/env.server.js";
import { createServices, type Services } from "../app/services/services.server.js";

export const APP_ROOT = fileURLToPath(new URL("..", import.meta.url));
const BUILD_ENTRY = `${APP_ROOT}/build/server/index.js`;

export interface Webapp {
  app: express.Express;
  services: Services;
  close(): Promise<void>;
}

export async function createWebapp(env: WebappEnv): Promise<Webapp> {
  const services = createServices(env);
  const app = express();
  app.disable("x-powered-by");

  const useBuild = env.NODE_ENV === "production" && existsSync(BUILD_ENTRY);
  let build: ServerBuild | (() => Promise<ServerBuild>);
  let closeVite = async () => {};
  if (useBuild) {
    app.use("/assets", express.static(`${APP_ROOT}/build/client/assets`, { immutable: true, maxAge: "1y" }));
    app.use(express.static(`${APP_ROOT}/build/client`, { maxAge: "1h" }));
    build = (await import(BUILD_ENTRY)) as ServerBuild;
  } else {
    const vite = await import("vite");
    const server = await vite.createServer({
      root: APP_ROOT,
      configFile: `${APP_ROOT}/vite.config.ts`,
      // cors: false — Vite's own CORS middleware would swallow API preflights from other origins and
      // add a second access-control-allow-origin for localhost ones; the API routes do CORS themselves.
      server: { middlewareMode: true, hmr: false, ws: false, cors: false },
      appType: "custom",
      logLevel: "warn",
    });
    app.use(server.middlewares);
    build = () => server.ssrLoadModule("virtual:remix/server-build") as Promise<ServerBuild>;
    closeVite = () => server.close();
  }

  app.all("*", createRequestHandler({ build, mode: env.NODE_ENV, getLoadContext: () => ({ services }) }));

  return {
    app,
    services,
    async close() {
      await closeVite();
      await services.close();
    },
  };
}

/** Starts listening; resolves with the URL once ready. */
export async function listen(webapp: Webapp, port: number, host: string): Promise<{ url: string; server: Server }> {
  return new Promise((resolve, reject) => {
    const server = webapp.app.listen(port, host, () => {
      const address = server.address();
      const actualPort = typeof address === "object" && address ? address.port : port;
      resolve({ url: `http://${host}:${actualPort}`, server });
    });
    server.keepAliveTimeout = 65_000;
    server.once("error", reject);
  });
}
