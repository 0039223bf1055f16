/** Routing, CORS, auth, admission control and error rendering for the HTTP API (§1.1, §2.1, §6). */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  API_SECRET_PARAM,
  CACHE_CONTROL_ERROR,
  CACHE_CONTROL_HEALTH,
  CACHE_CONTROL_MUST_REFETCH,
  CACHE_CONTROL_MUST_REFETCH_NO_HANDLE,
  CORS_ALLOW_METHODS_OTHER,
  CORS_ALLOW_METHODS_SHAPE,
  ELECTRIC_EXPOSED_HEADERS,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_HEALTH_PATH,
  ELECTRIC_SERVER_HEADER,
  ELECTRIC_SHAPE_PATH,
  INITIAL_OFFSET,
  OFFSET_PARAM,
  SECRET_PARAM,
  SURROGATE_CONTROL_HEADER,
} from "@runfeed/core";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import type { ShapeServerConfig } from "../env.js";
import {
  HttpError,
  InvalidRequestError,
  MustRefetchError,
  ServiceUnavailableError,
  UnauthorizedError,
  isPgUserError,
} from "./errors.js";
import type { ShapeApi } from "./shape-handler.js";

export const SERVER_VERSION = "ElectricSQL/1.1.0-runfeed";
const MAX_BODY = 1024 * 1024;

export interface RouterDeps {
  config: ShapeServerConfig;
  logger: Logger;
  status: () => "waiting" | "starting" | "active";
  api: () => ShapeApi | undefined;
  metrics: Registry;
}

export function createRouter(deps: RouterDeps) {
  let inflightInitial = 0;
  let inflightExisting = 0;

  function normalizePath(raw: string): string {
    let path = raw;
    try {
      path = decodeURIComponent(raw);
    } catch {
      /* keep raw */
    }
    path = path.replace(/\/{2,}/g, "/");
    if (path.length > 1 && path.endsWith("/")) path = path.slice(0, -1);
    return path;
  }

  function cors(req: IncomingMessage, res: ServerResponse, shapeRoute: boolean) {
    res.setHeader(ELECTRIC_SERVER_HEADER, SERVER_VERSION);
    res.setHeader("access-control-allow-origin", (req.headers.origin as string | undefined) ?? "*");
    res.setHeader("access-control-expose-headers", ELECTRIC_EXPOSED_HEADERS.join(","));
    res.setHeader("access-control-allow-methods", shapeRoute ? CORS_ALLOW_METHODS_SHAPE : CORS_ALLOW_METHODS_OTHER);
  }

  function sendError(res: ServerResponse, err: unknown, method: string | undefined) {
    if (res.headersSent) {
      res.end();
      return;
    }
    for (const h of res.getHeaderNames())
      if (h.startsWith("electric-") && h !== ELECTRIC_SERVER_HEADER) res.removeHeader(h);
    res.removeHeader("etag");
    let e: HttpError;
    if (err instanceof HttpError) e = err;
    else if (isPgUserError(err)) e = InvalidRequestError.field("where", err.message);
    else {
      deps.logger.error({ err }, "unexpected error serving shape");
      e = new HttpError(500, `Unable to retrieve shape log: ${(err as Error)?.message ?? String(err)}`);
    }
    res.statusCode = e.status;
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    if (e instanceof MustRefetchError) {
      if (e.newHandle) res.setHeader(ELECTRIC_HANDLE_HEADER, e.newHandle);
      res.setHeader("cache-control", e.newHandle ? CACHE_CONTROL_MUST_REFETCH : CACHE_CONTROL_MUST_REFETCH_NO_HANDLE);
    } else if (method === "POST" || method === "DELETE") {
      res.setHeader("cache-control", "no-cache");
    } else {
      res.setHeader("cache-control", CACHE_CONTROL_ERROR);
      res.setHeader(SURROGATE_CONTROL_HEADER, CACHE_CONTROL_ERROR);
    }
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.end(JSON.stringify(e.body));
  }

  async function readJsonBody(req: IncomingMessage): Promise<Record<string, unknown> | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > MAX_BODY) throw new HttpError(413, "Request body too large");
      chunks.push(c as Buffer);
    }
    const text = Buffer.concat(chunks).toString("utf8");
    if (text.trim() === "") return undefined;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw InvalidRequestError.field("body", `Invalid JSON in request body: ${(e as Error).message}`);
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
      throw InvalidRequestError.field("body", "Request body must be a JSON object");
    return parsed as Record<string, unknown>;
  }

  const releaseInitial = () => inflightInitial--;
  const releaseExisting = () => inflightExisting--;

  return async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Path and query split by hand (no URL object: a parked long-poll should not keep one alive).
    const target = req.url ?? "/";
    const q = target.indexOf("?");
    const path = normalizePath(q < 0 ? target : target.slice(0, q));
    const query = new URLSearchParams(q < 0 ? "" : target.slice(q + 1));
    const shapeRoute = path === ELECTRIC_SHAPE_PATH;
    cors(req, res, shapeRoute);
    try {
      if (req.method === "OPTIONS") {
        res.statusCode = 204;
        res.setHeader("access-control-max-age", "86400");
        res.setHeader("connection", "keep-alive");
        const requested = String(req.headers["access-control-request-headers"] ?? "")
          .split(",")
          .map((s) => s.trim().toLowerCase())
          .filter((h) => h === "if-none-match" || h === "traceparent");
        if (requested.length) res.setHeader("access-control-allow-headers", requested.join(", "));
        res.end();
        return;
      }
      if (path === ELECTRIC_HEALTH_PATH) {
        const status = deps.status();
        res.statusCode = status === "active" ? 200 : 202;
        res.setHeader("cache-control", CACHE_CONTROL_HEALTH);
        res.setHeader("content-type", "application/json; charset=utf-8");
        res.end(JSON.stringify({ status }));
        return;
      }
      if (path === "/metrics") {
        // Benchmarks start the server with --expose-gc and ask for a collection before reading memory.
        const gc = (globalThis as { gc?: () => void }).gc;
        if (gc && query.get("gc") === "1") gc();
        res.setHeader("content-type", deps.metrics.contentType);
        res.end(await deps.metrics.metrics());
        return;
      }
      if (path === "/" || path === "") {
        res.statusCode = 200;
        res.end();
        return;
      }
      if (!shapeRoute) throw new HttpError(404, "Not found");
      if (deps.config.secret !== undefined) {
        const given = query.get(SECRET_PARAM) ?? query.get(API_SECRET_PARAM);
        if (given !== deps.config.secret) throw new UnauthorizedError();
      }
      const api = deps.api();
      if (!api || deps.status() !== "active") throw new ServiceUnavailableError("Stack not ready", 5);
      if (req.method === "DELETE") return await api.handleDelete(req, res, query);
      if (req.method !== "GET" && req.method !== "HEAD" && req.method !== "POST")
        throw new HttpError(405, "Method not allowed");
      const initial = query.get(OFFSET_PARAM) === INITIAL_OFFSET;
      const limit = initial ? deps.config.maxConcurrentRequests.initial : deps.config.maxConcurrentRequests.existing;
      if ((initial ? inflightInitial : inflightExisting) >= limit)
        throw new ServiceUnavailableError(
          `Concurrent ${initial ? "initial" : "existing"} request limit exceeded (limit: ${limit}), please retry`,
          6 + Math.floor(Math.random() * 5),
          "concurrent_request_limit_exceeded",
        );
      // Counted until the response is finished or the connection closes (a parked long-poll included).
      if (initial) inflightInitial++;
      else inflightExisting++;
      res.once("close", initial ? releaseInitial : releaseExisting);
      const body = req.method === "POST" ? await readJsonBody(req) : undefined;
      await api.handleGet(req, res, query, body, (err) => sendError(res, err, req.method));
    } catch (err) {
      sendError(res, err, req.method);
    }
  };
}
