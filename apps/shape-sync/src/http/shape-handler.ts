/**
 * GET/POST/DELETE /v1/shape (§1–§7): validation → shape resolution → log read → headers → body,
 * long-poll and SSE live modes, 409 must-refetch, 304 revalidation.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  CACHE_CONTROL_INITIAL,
  CACHE_CONTROL_LIVE,
  CACHE_CONTROL_NO_CACHE,
  ELECTRIC_CURSOR_HEADER,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_HAS_DATA_HEADER,
  ELECTRIC_OFFSET_HEADER,
  ELECTRIC_SCHEMA_HEADER,
  ELECTRIC_SNAPSHOT_HEADER,
  ELECTRIC_UP_TO_DATE_HEADER,
  SUBSET_ERROR_FIELD,
  SSE_KEEP_ALIVE,
  cacheControlCatchUp,
  cacheControlSse,
  compareOffsets,
  formatOffset,
  nextCursor,
  parseIfNoneMatch,
  shapeEtag,
  upToDateMessage,
  type OffsetAt,
} from "@runfeed/core";
import type pg from "pg";
import type { ShapeServerConfig } from "../env.js";
import { shapeSchema, type TableInfo } from "../pg/catalog.js";
import { IdentifierError, parseColumnList, parseRelation } from "../pg/identifiers.js";
import { compileShape, typesFor, type CompiledShape, type ShapeDefinition } from "../shapes/definition.js";
import { takeSubsetSnapshot } from "../shapes/snapshot.js";
import { compileWhere } from "../where/compile.js";
import { compileOrderBy } from "../where/order-by.js";
import type { ShapeRegistry } from "../shapes/registry.js";
import type { ReadResult, Shape } from "../shapes/shape.js";
import { WhereError } from "../where/compile.js";
import { HttpError, InvalidRequestError, MustRefetchError, ServiceUnavailableError } from "./errors.js";
import { cancelOnClose, type Cancel, type LiveWaits } from "./live.js";
import { parseShapeParams, type ShapeParams, type SubsetParams } from "./params.js";

export interface ShapeApiDeps {
  config: ShapeServerConfig;
  registry: ShapeRegistry;
  waits: LiveWaits;
  lookupTable: (schema: string, table: string) => Promise<TableInfo | undefined>;
  /** Connections for subset snapshot queries. */
  pool: pg.Pool;
  /** Whether replication is running; a long-poll that times out while it is not gets a 503 (§5.1). */
  healthy: () => boolean;
}

/** The request parameters a response is built from. */
type ResponseParams = Pick<ShapeParams, "offsetText" | "live" | "cursor">;

const COMPILED_CACHE_MAX = 20_000;

export class ShapeApi {
  private monotonic = 0;
  /** Request definition (hashed) → compiled shape, so live requests skip catalog lookups and parsing. */
  private readonly compiledCache = new Map<string, CompiledShape>();

  constructor(private readonly deps: ShapeApiDeps) {
    // After a restart, requests with the parameters that created a shape resolve without recompiling it.
    for (const c of deps.registry.catalog.compiledShapes()) if (c.requestKey) this.remember(c.requestKey, c);
  }

  private remember(key: string, compiled: CompiledShape): void {
    if (this.compiledCache.size >= COMPILED_CACHE_MAX)
      this.compiledCache.delete(this.compiledCache.keys().next().value!);
    this.compiledCache.set(key, compiled);
  }

  /** Forget compiled definitions (a table changed). */
  clearCompiled(): void {
    this.compiledCache.clear();
  }

  /** Resolves table, columns and where into a compiled shape, or throws a 400. */
  async compile(
    p: Pick<ShapeParams, "table" | "where" | "params" | "columns" | "replica" | "log">,
  ): Promise<CompiledShape> {
    const key = createHash("sha1")
      .update(JSON.stringify([p.table, p.where, p.where ? p.params : null, p.columns, p.replica, p.log]))
      .digest("base64");
    const hit = this.compiledCache.get(key);
    if (hit) return hit;
    const fresh = await this.compileUncached(p);
    // After a restart the registry already holds a compiled copy (from recovery): share it.
    const compiled = this.deps.registry.catalog.getByKey(fresh.key)?.compiled ?? fresh;
    compiled.requestKey ??= key;
    this.remember(key, compiled);
    return compiled;
  }

  private async compileUncached(
    p: Pick<ShapeParams, "table" | "where" | "params" | "columns" | "replica" | "log">,
  ): Promise<CompiledShape> {
    let rel: { schema: string; table: string };
    try {
      rel = parseRelation(p.table);
    } catch (e) {
      throw InvalidRequestError.field("table", (e as Error).message);
    }
    const info = await this.deps.lookupTable(rel.schema, rel.table);
    if (!info)
      throw InvalidRequestError.field(
        "table",
        `Table "${rel.schema}"."${rel.table}" does not exist. If the table name contains capitals or special characters you must quote it.`,
      );
    let columns: string[] | undefined;
    if (p.columns !== undefined) {
      try {
        columns = p.columns.trim() === "" ? [] : parseColumnList(p.columns);
      } catch (e) {
        if (e instanceof IdentifierError) throw InvalidRequestError.field("columns", e.message);
        throw e;
      }
      if (columns.length === 0) throw InvalidRequestError.field("columns", "The list of columns must not be empty");
      const names = new Set(info.columns.map((c) => c.name));
      const unknown = columns.filter((c) => !names.has(c));
      if (unknown.length)
        throw InvalidRequestError.field(
          "columns",
          `The following columns are not found on the table: ${unknown.join(", ")}`,
        );
      const pkCols = info.columns.filter((c) => c.pkIndex !== undefined).map((c) => c.name);
      const missing = pkCols.filter((c) => !columns!.includes(c));
      if (missing.length)
        throw InvalidRequestError.field(
          "columns",
          `The list of columns must include all primary key columns, missing: ${missing.join(", ")}`,
        );
      const generated = info.columns.filter((c) => c.generated && columns!.includes(c.name)).map((c) => c.name);
      if (generated.length)
        throw InvalidRequestError.field(
          "columns",
          `The following columns are generated and cannot be included in the shape: ${generated.join(", ")}`,
        );
    }
    const def: ShapeDefinition = {
      schema: info.schema,
      table: info.table,
      columns,
      where: p.where,
      params: p.where ? p.params : undefined,
      replica: p.replica,
      log: p.log,
    };
    try {
      return compileShape(def, info);
    } catch (e) {
      if (e instanceof WhereError) throw InvalidRequestError.field("where", e.message);
      throw e;
    }
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
    const p = parseShapeParams(query, body);
    const compiled = await this.compile(p);
    if (p.subset) return this.handleSubset(res, p, compiled, p.subset);
    const isPost = req.method === "POST";
    const pos = p.offset;

    if (pos.kind === "before_all") {
      const shape = await this.deps.registry.catalog.getOrCreate(compiled);
      const r = this.deps.registry.reader.read(shape, pos);
      return this.sendLog(req, res, shape, p, r, {
        cacheControl: isPost ? CACHE_CONTROL_NO_CACHE : CACHE_CONTROL_INITIAL,
        upToDate: false,
      });
    }
    if (pos.kind === "now") {
      const shape = await this.deps.registry.catalog.getOrCreate(compiled);
      const r: ReadResult = { items: [], end: shape.latest, reachedEnd: true };
      return this.sendLog(req, res, shape, p, r, {
        cacheControl: isPost
          ? CACHE_CONTROL_NO_CACHE
          : cacheControlCatchUp(this.deps.config.cacheMaxAge, this.deps.config.cacheStaleAge),
        upToDate: true,
        noChange: true,
      });
    }

    const shape = this.deps.registry.catalog.getByHandle(p.handle!);
    if (!shape || shape.compiled.key !== compiled.key || shape.state !== "active") {
      const current = await this.deps.registry.catalog.getOrCreate(compiled);
      throw new MustRefetchError(current.handle);
    }
    const cancel = cancelOnClose(res);
    {
      // Out of bounds (§4.1): wait up to half the long-poll timeout for the offset to appear.
      if (this.outOfBounds(shape, pos)) {
        const deadline = Date.now() + this.deps.config.longPollTimeoutMs / 2;
        while (this.outOfBounds(shape, pos)) {
          const left = deadline - Date.now();
          if (left <= 0) throw InvalidRequestError.field("offset", "out of bounds for this shape");
          const o = await this.deps.waits.wait(shape, `oob:${p.offsetText}`, pos, left, cancel);
          if (o.kind === "aborted") return;
          if (o.kind === "gone") return this.refetch(compiled);
        }
      }
      const r = this.readAfter(shape, pos);
      const catchUpCc = isPost
        ? CACHE_CONTROL_NO_CACHE
        : cacheControlCatchUp(this.deps.config.cacheMaxAge, this.deps.config.cacheStaleAge);
      if (!p.live || r.items.length > 0) {
        if (p.live && p.liveSse) return this.sendSseOnce(res, shape, p, r);
        return this.sendLog(req, res, shape, p, r, {
          cacheControl: p.live ? CACHE_CONTROL_LIVE : catchUpCc,
          upToDate: r.reachedEnd,
        });
      }
      if (p.liveSse) return await this.streamSse(res, shape, compiled, p, pos, cancel);
      this.holdLongPoll(req, res, shape, { offsetText: p.offsetText, live: true, cursor: p.cursor }, pos, cancel, fail);
    }
  }

  /** Parks a long-poll until the shape changes, goes away or the timeout passes (§5.1). */
  private holdLongPoll(
    req: IncomingMessage,
    res: ServerResponse,
    shape: Shape,
    p: ResponseParams,
    pos: OffsetAt,
    cancel: Cancel,
    fail: (err: unknown) => void,
  ): void {
    this.deps.waits
      .wait(shape, p.offsetText, pos, this.deps.config.longPollTimeoutMs, cancel)
      .then((o) => {
        if (o.kind === "aborted") return;
        if (o.kind === "gone") return this.refetch(shape.compiled);
        if (o.kind === "timeout") {
          if (!this.deps.healthy())
            throw new ServiceUnavailableError({ message: "Replication is not running; retrying" }, 10);
          const r: ReadResult = { items: [], end: pos, reachedEnd: true };
          return this.sendLog(req, res, shape, p, r, {
            cacheControl: CACHE_CONTROL_LIVE,
            upToDate: true,
            noChange: true,
          });
        }
        const r = o.read();
        return this.sendLog(req, res, shape, p, r, {
          cacheControl: CACHE_CONTROL_LIVE,
          upToDate: r.reachedEnd,
          liveData: true,
        });
      })
      .catch(fail);
  }

  /**
   * Subset snapshot (§3.6): validated subset where/order_by, its own snapshot transaction, rows with
   * `snapshot_mark`; not merged into the log. Ignores live/SSE, never revalidates (no etag).
   */
  private async handleSubset(
    res: ServerResponse,
    p: ShapeParams,
    compiled: CompiledShape,
    subset: SubsetParams,
  ): Promise<void> {
    const subsetError = (field: string, message: string) =>
      new InvalidRequestError({ [SUBSET_ERROR_FIELD]: { [field]: [message] } });
    const types = typesFor(compiled.table);
    let whereSql: string | undefined;
    let orderBySql: string | undefined;
    try {
      // Only Postgres evaluates a subset where, so text ordering under any collation is fine there.
      if (subset.where !== undefined)
        whereSql = compileWhere(subset.where, types, subset.params, { evaluatedInProcess: false }).sql;
    } catch (e) {
      if (e instanceof WhereError) throw subsetError("where", e.message);
      throw e;
    }
    try {
      if (subset.orderBy !== undefined) orderBySql = compileOrderBy(subset.orderBy, types);
    } catch (e) {
      if (e instanceof WhereError) throw subsetError("order_by", e.message);
      throw e;
    }
    // The shape itself: a handle that no longer matches the definition is a 409 like any read.
    let shape: Shape;
    if (p.handle !== undefined) {
      const known = this.deps.registry.catalog.getByHandle(p.handle);
      if (!known || known.compiled.key !== compiled.key || known.state !== "active") return this.refetch(compiled);
      shape = known;
    } else shape = await this.deps.registry.catalog.getOrCreate(compiled);

    // The shape's latest offset, read before the snapshot starts: every change after it is either
    // visible in the snapshot (the client filters it by key + xid) or still to come — a safe resume point (§3.6).
    const resumeOffset = formatOffset(shape.latest);
    let snap: Awaited<ReturnType<typeof takeSubsetSnapshot>>;
    try {
      snap = await takeSubsetSnapshot(this.deps.pool, shape.compiled, {
        whereSql,
        orderBySql,
        limit: subset.limit,
        offset: subset.offset,
      });
    } catch (e) {
      const code = (e as { code?: unknown })?.code;
      if (typeof code === "string" && (code.startsWith("22") || code.startsWith("42")))
        throw subsetError("where", (e as Error).message);
      throw e;
    }
    res.setHeader(ELECTRIC_HANDLE_HEADER, shape.handle);
    res.setHeader(ELECTRIC_OFFSET_HEADER, resumeOffset);
    res.setHeader(ELECTRIC_SCHEMA_HEADER, JSON.stringify(shapeSchema(shape.compiled.table, shape.compiled.selected)));
    res.setHeader(ELECTRIC_SNAPSHOT_HEADER, "true");
    res.setHeader("cache-control", CACHE_CONTROL_NO_CACHE);
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.statusCode = 200;
    res.end(`{"metadata":${JSON.stringify(snap.metadata)},"data":[${snap.rows.join(",")}]}`);
  }

  /** The log after a position; a client at the shape's latest offset (every live resume) has nothing to read. */
  private readAfter(shape: Shape, pos: OffsetAt): ReadResult {
    return this.deps.registry.reader.readAfter(shape, pos);
  }

  /** Past the shape's latest offset (§4.1); `<latest tx>_0` ("after that transaction") and `0_inf` are not. */
  private outOfBounds(shape: Shape, pos: OffsetAt): boolean {
    if (pos.tx === 0n && pos.op === "inf") return false;
    const latest = shape.latest;
    return compareOffsets(pos, latest) > 0 && !(pos.tx === latest.tx && pos.op === 0);
  }

  private async refetch(compiled: CompiledShape): Promise<never> {
    const current = await this.deps.registry.catalog.getOrCreate(compiled);
    throw new MustRefetchError(current.handle);
  }

  private globalLsn(shape: Shape, r: ReadResult, kind: "nonlive" | "livedata" | "nochange"): string {
    const g = this.deps.registry.router.globalLsn;
    if (kind === "livedata") return r.end.tx.toString();
    if (kind === "nochange") return (g > 0n ? g : shape.latest.tx).toString();
    return (g > r.end.tx ? g : r.end.tx).toString();
  }

  private baseHeaders(res: ServerResponse, shape: Shape, p: ResponseParams, endOffset: string): void {
    res.setHeader(ELECTRIC_HANDLE_HEADER, shape.handle);
    res.setHeader(ELECTRIC_OFFSET_HEADER, endOffset);
    if (p.live)
      res.setHeader(ELECTRIC_CURSOR_HEADER, nextCursor(p.cursor, this.deps.config.longPollTimeoutMs, Date.now()));
    else
      res.setHeader(ELECTRIC_SCHEMA_HEADER, JSON.stringify(shapeSchema(shape.compiled.table, shape.compiled.selected)));
  }

  private sendLog(
    req: IncomingMessage,
    res: ServerResponse,
    shape: Shape,
    p: ResponseParams,
    r: ReadResult,
    o: { cacheControl: string; upToDate: boolean; noChange?: boolean; liveData?: boolean },
  ): void {
    const endOffset = formatOffset(r.end);
    const etag = o.noChange
      ? shapeEtag(shape.handle, p.offsetText, endOffset, Date.now() * 1000 + (this.monotonic++ % 1000))
      : shapeEtag(shape.handle, p.offsetText, endOffset);
    this.baseHeaders(res, shape, p, endOffset);
    res.setHeader("etag", etag);
    res.setHeader("cache-control", o.cacheControl);
    if (o.upToDate) res.setHeader(ELECTRIC_UP_TO_DATE_HEADER, "");
    res.setHeader(ELECTRIC_HAS_DATA_HEADER, o.noChange ? "false" : "true");
    if (
      !o.noChange &&
      req.method !== "POST" &&
      parseIfNoneMatch(req.headers["if-none-match"] as string | undefined).includes(etag)
    ) {
      res.removeHeader(ELECTRIC_SCHEMA_HEADER);
      res.statusCode = 304;
      res.end();
      return;
    }
    let body = "[" + r.items.join(",");
    if (o.upToDate) {
      const kind = o.noChange ? "nochange" : o.liveData ? "livedata" : "nonlive";
      body += (r.items.length ? "," : "") + JSON.stringify(upToDateMessage(this.globalLsn(shape, r, kind)));
    }
    body += "]";
    res.statusCode = 200;
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.end(body);
  }

  private sseHeaders(res: ServerResponse, shape: Shape, p: ShapeParams, endOffset: string): void {
    this.baseHeaders(res, shape, p, endOffset);
    res.statusCode = 200;
    res.setHeader("content-type", "text/event-stream");
    res.setHeader("connection", "keep-alive");
    res.setHeader("cache-control", cacheControlSse(Math.floor(this.deps.config.sseTimeoutMs / 1000)));
    res.setHeader("x-accel-buffering", "no");
    res.setHeader(ELECTRIC_UP_TO_DATE_HEADER, "");
    res.setHeader(ELECTRIC_HAS_DATA_HEADER, "true");
  }

  /**
   * SSE events of one read, with up-to-date only when the read reached the shape's end: SSE clients
   * publish on up-to-date and resume from its `global_last_seen_lsn` as `<lsn>_0` ("after that
   * transaction"), so it must never follow part of a transaction.
   */
  private sseChunk(r: ReadResult): string {
    let out = "";
    for (const it of r.items) out += `data: ${it}\n\n`;
    if (r.reachedEnd) out += `data: ${JSON.stringify(upToDateMessage(r.end.tx.toString()))}\n\n`;
    return out;
  }

  private sendSseOnce(res: ServerResponse, shape: Shape, p: ShapeParams, r: ReadResult): void {
    const end = formatOffset(r.end);
    this.sseHeaders(res, shape, p, end);
    if (!r.reachedEnd) res.removeHeader(ELECTRIC_UP_TO_DATE_HEADER);
    res.setHeader("etag", shapeEtag(shape.handle, p.offsetText, end));
    res.end(this.sseChunk(r));
  }

  /** SSE with nothing new yet: keep the response open and push each change batch followed by up-to-date (§5.2). */
  private async streamSse(
    res: ServerResponse,
    shape: Shape,
    _compiled: CompiledShape,
    p: ShapeParams,
    start: OffsetAt,
    signal: Cancel,
  ): Promise<void> {
    this.sseHeaders(res, shape, p, formatOffset(start));
    res.flushHeaders();
    const deadline = Date.now() + this.deps.config.sseTimeoutMs;
    let pos = start;
    let lastWrite = Date.now();
    while (!signal.aborted && shape.state === "active") {
      // Read before every wait: the rest of a transaction larger than one chunk, and changes applied
      // since the last read, are already in the log and will not be announced again.
      const r = this.readAfter(shape, pos);
      if (r.items.length > 0) {
        res.write(this.sseChunk(r));
        lastWrite = Date.now();
        pos = r.end;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      const o = await this.deps.waits.wait(
        shape,
        formatOffset(pos),
        pos,
        Math.min(left, this.deps.config.sseKeepAliveMs),
        signal,
      );
      if (o.kind === "aborted" || o.kind === "gone") break;
      if (o.kind === "timeout" && Date.now() - lastWrite >= this.deps.config.sseKeepAliveMs - 5) {
        res.write(SSE_KEEP_ALIVE);
        lastWrite = Date.now();
      }
    }
    res.end();
  }

  async handleDelete(_req: IncomingMessage, res: ServerResponse, query: URLSearchParams): Promise<void> {
    if (!this.deps.config.enableIntegrationTesting) throw new HttpError(405, { message: "DELETE not allowed" });
    const handle = query.get("handle") ?? undefined;
    let shape: Shape | undefined;
    if (query.get("table")) {
      const p = {
        table: query.get("table")!,
        where: query.get("where") || undefined,
        params: [...query]
          .filter(([k]) => /^params\[\d+\]$/.test(k))
          .sort((a, b) => Number(a[0].slice(7, -1)) - Number(b[0].slice(7, -1)))
          .map(([, v]) => v),
        columns: query.get("columns") ?? undefined,
        replica: (query.get("replica") ?? "default") as "default" | "full",
        log: (query.get("log") ?? "full") as "full" | "changes_only",
      };
      const compiled = await this.compile(p);
      shape = this.deps.registry.catalog.getByKey(compiled.key);
      if (shape && handle && shape.handle !== handle)
        throw new HttpError(400, {
          message:
            "The specified shape definition and handle do not match. Please ensure the shape definition is correct or omit the shape handle from the request to obtain a new one.",
        });
    } else if (handle) shape = this.deps.registry.catalog.getByHandle(handle);
    if (!shape) throw new HttpError(404, { message: "No existing shape found" });
    this.deps.registry.catalog.invalidate(shape, "deleted");
    res.statusCode = 202;
    res.setHeader("cache-control", CACHE_CONTROL_NO_CACHE);
    res.end();
  }
}
