/**
 * A log read as a shape response (§2, §3, §7): the electric-* headers, etag and cache-control, a 304
 * when the client already has it, and the JSON array body ending in up-to-date when the read reached
 * the shape's end, with the `global_last_seen_lsn` each kind of response carries (§4.1).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  ELECTRIC_CURSOR_HEADER,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_HAS_DATA_HEADER,
  ELECTRIC_OFFSET_HEADER,
  ELECTRIC_SCHEMA_HEADER,
  ELECTRIC_UP_TO_DATE_HEADER,
  formatOffset,
  nextCursor,
  parseIfNoneMatch,
  shapeEtag,
  upToDateMessage,
} from "@runfeed/core";
import { shapeSchema } from "../pg/catalog.js";
import type { ChangeRouter } from "../shapes/change-router.js";
import type { ReadResult, Shape } from "../shapes/shape.js";
import type { ShapeParams } from "./params.js";

/** The request parameters a response is built from (all a parked long-poll keeps of its request). */
export type ResponseParams = Pick<ShapeParams, "offsetText" | "live" | "cursor">;

export interface LogResponseOptions {
  cacheControl: string;
  upToDate: boolean;
  /** Nothing new (`offset=now`, a long-poll timeout): a unique etag, `electric-has-data: false`. */
  noChange?: boolean;
  /** A long-poll woken by a change. */
  liveData?: boolean;
}

export class LogResponder {
  private monotonic = 0;

  constructor(
    private readonly router: Pick<ChangeRouter, "globalLsn">,
    private readonly longPollTimeoutMs: number,
  ) {}

  /** Handle and end offset; a live response gets the next cursor, any other the schema (§2.2). */
  setBaseHeaders(res: ServerResponse, shape: Shape, p: ResponseParams, endOffset: string): void {
    res.setHeader(ELECTRIC_HANDLE_HEADER, shape.handle);
    res.setHeader(ELECTRIC_OFFSET_HEADER, endOffset);
    if (p.live) res.setHeader(ELECTRIC_CURSOR_HEADER, nextCursor(p.cursor, this.longPollTimeoutMs, Date.now()));
    else
      res.setHeader(ELECTRIC_SCHEMA_HEADER, JSON.stringify(shapeSchema(shape.compiled.table, shape.compiled.selected)));
  }

  send(
    req: IncomingMessage,
    res: ServerResponse,
    shape: Shape,
    p: ResponseParams,
    r: ReadResult,
    o: LogResponseOptions,
  ): void {
    const endOffset = formatOffset(r.end);
    const etag = o.noChange
      ? shapeEtag(shape.handle, p.offsetText, endOffset, Date.now() * 1000 + (this.monotonic++ % 1000))
      : shapeEtag(shape.handle, p.offsetText, endOffset);
    this.setBaseHeaders(res, shape, p, endOffset);
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
    let body = `[${r.items.join(",")}`;
    if (o.upToDate) {
      const lsn = this.globalLsn(shape, r, o.noChange ? "nochange" : o.liveData ? "livedata" : "nonlive");
      body += (r.items.length ? "," : "") + JSON.stringify(upToDateMessage(lsn));
    }
    body += "]";
    res.statusCode = 200;
    res.setHeader("content-type", "application/json; charset=utf-8");
    res.end(body);
  }

  /**
   * `global_last_seen_lsn` (§4.1): a live response with data says the transaction it ends with; a
   * response without changes says how far replication got; a catch-up says the later of the two.
   */
  private globalLsn(shape: Shape, r: ReadResult, kind: "nonlive" | "livedata" | "nochange"): string {
    const g = this.router.globalLsn;
    if (kind === "livedata") return r.end.tx.toString();
    if (kind === "nochange") return (g > 0n ? g : shape.latest.tx).toString();
    return (g > r.end.tx ? g : r.end.tx).toString();
  }
}
