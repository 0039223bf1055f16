/**
 * How long a request's body may take to arrive. Node's own `requestTimeout` (300 s by default) answers
 * 408 and closes the connection of any request still sending its body after that long, which cuts a
 * realtime stream writer mid-pipe: the v1 writer sends one chunked POST for as long as its task writes
 * (docs/decisions/081-realtime-streams.md), and the writer saw `ECONNRESET`. The server therefore runs
 * with Node's timeout off (headers keep theirs) and applies this deadline per request instead, to every
 * body but a stream writer's.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { errorBody } from "../app/services/httpErrors.server.js";

export function applyRequestDeadline(req: IncomingMessage, res: ServerResponse, timeoutMs: number): void {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (!hasBody) return;
  const timer = setTimeout(() => {
    if (req.complete) return;
    if (res.headersSent) return void req.socket.destroy();
    res.writeHead(408, { "content-type": "application/json", connection: "close" });
    res.end(JSON.stringify(errorBody(`Request Timeout: the body did not arrive within ${timeoutMs} ms`)), () =>
      req.socket.destroy(),
    );
  }, timeoutMs);
  const clear = () => clearTimeout(timer);
  req.once("end", clear);
  res.once("close", clear);
}
