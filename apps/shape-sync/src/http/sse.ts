/**
 * Live mode over server-sent events (`live=true&live_sse=true`, §5.2): what the log already holds after
 * the client's offset first, then one `data:` event per message as changes come, up-to-date after each
 * batch that reaches the shape's end, keep-alive comments while idle, and the response ended after the
 * SSE timeout (the client reconnects from the last offset it saw).
 */
import type { ServerResponse } from "node:http";
import {
  ELECTRIC_HAS_DATA_HEADER,
  ELECTRIC_UP_TO_DATE_HEADER,
  SSE_KEEP_ALIVE,
  cacheControlSse,
  formatOffset,
  upToDateMessage,
  type OffsetAt,
} from "@runfeed/core";
import type { ShapeServerConfig } from "../env.js";
import type { ShapeLogReader } from "../shapes/log-reader.js";
import type { ReadResult, Shape } from "../shapes/shape.js";
import type { Cancel, LiveWaits } from "./live.js";
import type { LogResponder, ResponseParams } from "./log-response.js";

export interface SseDeps {
  config: Pick<ShapeServerConfig, "sseTimeoutMs" | "sseKeepAliveMs">;
  responder: Pick<LogResponder, "setBaseHeaders">;
  reader: Pick<ShapeLogReader, "readAfter">;
  waits: Pick<LiveWaits, "wait">;
}

export class SseResponder {
  constructor(private readonly deps: SseDeps) {}

  /**
   * Keeps the response open and pushes each change batch followed by up-to-date; `first`: the read
   * after `start` already made (sent at once when it holds messages).
   */
  async stream(
    res: ServerResponse,
    shape: Shape,
    p: ResponseParams,
    start: OffsetAt,
    signal: Cancel,
    first?: ReadResult,
  ): Promise<void> {
    const { config, reader, waits } = this.deps;
    this.setHeaders(res, shape, p, formatOffset(start));
    let pos = start;
    let lastWrite = Date.now();
    if (first && first.items.length > 0) {
      if (!first.reachedEnd) res.removeHeader(ELECTRIC_UP_TO_DATE_HEADER);
      res.write(events(first));
      pos = first.end;
    } else {
      res.flushHeaders();
    }
    const deadline = Date.now() + config.sseTimeoutMs;
    while (!signal.aborted && shape.state === "active") {
      // Read before every wait: the rest of a transaction larger than one chunk, and changes applied
      // since the last read, are already in the log and will not be announced again.
      const r = reader.readAfter(shape, pos);
      if (r.items.length > 0) {
        res.write(events(r));
        lastWrite = Date.now();
        pos = r.end;
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) break;
      const o = await waits.wait(shape, formatOffset(pos), pos, Math.min(left, config.sseKeepAliveMs), signal);
      if (o.kind === "aborted" || o.kind === "gone") break;
      if (o.kind === "timeout" && Date.now() - lastWrite >= config.sseKeepAliveMs - 5) {
        res.write(SSE_KEEP_ALIVE);
        lastWrite = Date.now();
      }
    }
    res.end();
  }

  private setHeaders(res: ServerResponse, shape: Shape, p: ResponseParams, endOffset: string): void {
    this.deps.responder.setBaseHeaders(res, shape, p, endOffset);
    res.statusCode = 200;
    res.setHeader("content-type", "text/event-stream");
    res.setHeader("connection", "keep-alive");
    res.setHeader("cache-control", cacheControlSse(Math.floor(this.deps.config.sseTimeoutMs / 1000)));
    res.setHeader("x-accel-buffering", "no");
    res.setHeader(ELECTRIC_UP_TO_DATE_HEADER, "");
    res.setHeader(ELECTRIC_HAS_DATA_HEADER, "true");
  }
}

/**
 * SSE events of one read, with up-to-date only when the read reached the shape's end: SSE clients
 * publish on up-to-date and resume from its `global_last_seen_lsn` as `<lsn>_0` ("after that
 * transaction"), so it must never follow part of a transaction.
 */
function events(r: ReadResult): string {
  let out = "";
  for (const it of r.items) out += `data: ${it}\n\n`;
  if (r.reachedEnd) out += `data: ${JSON.stringify(upToDateMessage(r.end.tx.toString()))}\n\n`;
  return out;
}
