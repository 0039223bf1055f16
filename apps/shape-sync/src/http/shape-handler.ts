/**
 * GET/POST/DELETE /v1/shape (§1–§7): parameters → compiled shape → the shape at the request's handle
 * → a log read from its offset, answered at once (initial, `now`, catch-up, live with data), or by the
 * live modes (long-poll.ts, sse.ts); subset requests go to subset.ts. 409 when the handle is stale.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  CACHE_CONTROL_INITIAL,
  CACHE_CONTROL_LIVE,
  CACHE_CONTROL_NO_CACHE,
  cacheControlCatchUp,
  compareOffsets,
  type OffsetAt,
} from "@runfeed/core";
import type pg from "pg";
import type { ShapeServerConfig } from "../env.js";
import type { TableInfo } from "../pg/catalog.js";
import type { ShapeRegistry } from "../shapes/registry.js";
import type { ReadResult, Shape } from "../shapes/shape.js";
import { HttpError, InvalidRequestError, mustRefetch } from "./errors.js";
import { cancelOnClose, type Cancel, type LiveWaits } from "./live.js";
import { LogResponder } from "./log-response.js";
import { holdLongPoll, type LongPollDeps } from "./long-poll.js";
import { parseDeleteParams, parseShapeParams } from "./params.js";
import { ShapeResolver } from "./shape-resolver.js";
import { SseResponder } from "./sse.js";
import { serveSubset, type SubsetDeps } from "./subset.js";

export interface ShapeApiDeps {
  config: ShapeServerConfig;
  registry: Pick<ShapeRegistry, "catalog" | "reader" | "router">;
  waits: LiveWaits;
  lookupTable: (schema: string, table: string) => Promise<TableInfo | undefined>;
  /** Connections for subset snapshot queries. */
  pool: pg.Pool;
  /** Whether replication is running; a long-poll that times out while it is not gets a 503 (§5.1). */
  healthy: () => boolean;
}

export class ShapeApi {
  private readonly resolver: ShapeResolver;
  private readonly responder: LogResponder;
  private readonly sse: SseResponder;
  private readonly longPoll: LongPollDeps;
  private readonly subset: SubsetDeps;

  constructor(private readonly deps: ShapeApiDeps) {
    const { config, registry, waits } = deps;
    const catalog = registry.catalog;
    this.resolver = new ShapeResolver(catalog, deps.lookupTable);
    this.responder = new LogResponder(registry.router, config.longPollTimeoutMs);
    this.sse = new SseResponder({ config, responder: this.responder, reader: registry.reader, waits });
    this.longPoll = {
      timeoutMs: config.longPollTimeoutMs,
      waits,
      responder: this.responder,
      catalog,
      healthy: deps.healthy,
    };
    this.subset = { catalog, pool: deps.pool };
  }

  /** Forgets compiled definitions (a table changed). */
  clearCompiled(): void {
    this.resolver.clear();
  }

  /**
   * Serves a shape request. A long-poll that has to wait resolves once it is parked: the wait holds
   * only what its answer needs (not the request's parameters or this call's frame), and a failure
   * after that point goes to `fail`.
   */
  async handleGet(
    req: IncomingMessage,
    res: ServerResponse,
    query: URLSearchParams,
    body: Record<string, unknown> | undefined,
    fail: (err: unknown) => void,
  ): Promise<void> {
    const { catalog, reader } = this.deps.registry;
    const p = parseShapeParams(query, body);
    // A known handle asked for with the parameters that made it: no re-validation (madeFrom).
    const known =
      p.handle && !p.subset && p.offset.kind !== "before_all" && p.offset.kind !== "now"
        ? catalog.getByHandle(p.handle)
        : undefined;
    const compiled =
      known && known.state === "active" && this.resolver.madeFrom(p, known.compiled)
        ? known.compiled
        : await this.resolver.resolve(p);
    if (p.subset) return serveSubset(this.subset, res, compiled, p.handle, p.subset);
    const catchUp = req.method === "POST" ? CACHE_CONTROL_NO_CACHE : this.catchUpCacheControl();
    const pos = p.offset;

    if (pos.kind === "before_all") {
      const shape = await catalog.getOrCreate(compiled);
      const cacheControl = req.method === "POST" ? CACHE_CONTROL_NO_CACHE : CACHE_CONTROL_INITIAL;
      return this.responder.send(req, res, shape, p, reader.read(shape, pos), { cacheControl, upToDate: false });
    }
    if (pos.kind === "now") {
      const shape = await catalog.getOrCreate(compiled);
      const r: ReadResult = { items: [], end: shape.latest, reachedEnd: true };
      return this.responder.send(req, res, shape, p, r, { cacheControl: catchUp, upToDate: true, noChange: true });
    }

    const shape = catalog.getByHandle(p.handle!);
    if (!shape || shape.compiled.key !== compiled.key || shape.state !== "active")
      return mustRefetch(catalog, compiled);
    const cancel = cancelOnClose(res);
    if (this.outOfBounds(shape, pos) && !(await this.awaitOffset(shape, pos, p.offsetText, cancel))) return;
    const r = reader.readAfter(shape, pos);
    // An event stream stays open whether or not there is something to send at once, as Electric's: a
    // stream that ended whenever the client was behind would look to Electric's client like a buffering
    // proxy (it falls back to long-polling after a few short streams).
    if (p.liveSse && p.live) return await this.sse.stream(res, shape, p, pos, cancel, r);
    if (!p.live || r.items.length > 0) {
      const cacheControl = p.live ? CACHE_CONTROL_LIVE : catchUp;
      return this.responder.send(req, res, shape, p, r, { cacheControl, upToDate: r.reachedEnd });
    }
    const params = { offsetText: p.offsetText, live: true, cursor: p.cursor };
    holdLongPoll(this.longPoll, req, res, shape, params, pos, cancel, fail);
  }

  /** DELETE /v1/shape (§2.3), only with ELECTRIC_ENABLE_INTEGRATION_TESTING: by definition and/or handle. */
  async handleDelete(_req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (!this.deps.config.enableIntegrationTesting) throw new HttpError(405, "DELETE not allowed");
    const { catalog } = this.deps.registry;
    const { handle, definition } = parseDeleteParams(query);
    let shape: Shape | undefined;
    if (definition) {
      shape = catalog.getByKey((await this.resolver.resolve(definition)).key);
      if (shape && handle && shape.handle !== handle)
        throw new HttpError(
          400,
          "The specified shape definition and handle do not match. Please ensure the shape definition is " +
            "correct or omit the shape handle from the request to obtain a new one.",
        );
    } else if (handle) shape = catalog.getByHandle(handle);
    if (!shape) throw new HttpError(404, "No existing shape found");
    catalog.invalidate(shape, "deleted");
    res.statusCode = 202;
    res.setHeader("cache-control", CACHE_CONTROL_NO_CACHE);
    res.end();
  }

  private catchUpCacheControl(): string {
    return cacheControlCatchUp(this.deps.config.cacheMaxAge, this.deps.config.cacheStaleAge);
  }

  /** Past the shape's latest offset (§4.1); `<latest tx>_0` ("after that transaction") and `0_inf` are not. */
  private outOfBounds(shape: Shape, pos: OffsetAt): boolean {
    if (pos.tx === 0n && pos.op === "inf") return false;
    const latest = shape.latest;
    return compareOffsets(pos, latest) > 0 && !(pos.tx === latest.tx && pos.op === 0);
  }

  /**
   * An offset past the shape's end may be one another server instance already served: wait up to half
   * the long-poll timeout for it to appear, then 400 (§4.1, §6.1). False when the client went away.
   */
  private async awaitOffset(shape: Shape, pos: OffsetAt, offsetText: string, cancel: Cancel): Promise<boolean> {
    const deadline = Date.now() + this.deps.config.longPollTimeoutMs / 2;
    while (this.outOfBounds(shape, pos)) {
      const left = deadline - Date.now();
      if (left <= 0) throw InvalidRequestError.field("offset", "out of bounds for this shape");
      const o = await this.deps.waits.wait(shape, `oob:${offsetText}`, pos, left, cancel);
      if (o.kind === "aborted") return false;
      if (o.kind === "gone") return mustRefetch(this.deps.registry.catalog, shape.compiled);
    }
    return true;
  }
}
