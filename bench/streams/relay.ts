/**
 * The streams bench's floor for an HTTP server between writers and readers: a bare relay, run as a
 * child process by run.ts. It takes the v1 writers' chunked POSTs and writes each read's lines straight
 * to the stream's SSE reader, with no authentication, no validation, no Redis and no fan-out. Whatever
 * latency it shows at a load is what one node HTTP hop in and one out cost on this machine, before
 * anything runfeed does. Each event carries `id: <now in ms>-0`, the shape of a Redis entry id, so the
 * bench's readers parse it as they parse runfeed's.
 *
 * IPC: sends `{port}` once listening; answers any message with `{relayed}` (lines relayed so far).
 */
import http from "node:http";
import { EVENT_STREAM_CONTENT_TYPE, sseEvent } from "../../packages/core/src/index.js";

const readers = new Map<string, http.ServerResponse>();
let relayed = 0;

const server = http.createServer((req, res) => {
  // /realtime/v1/streams/:runId/tokens (reader) or /realtime/v1/streams/:runId/self/tokens (writer)
  const runId = (req.url ?? "").split("/")[4] ?? "";
  if (req.method === "GET") {
    res.writeHead(200, { "content-type": EVENT_STREAM_CONTENT_TYPE, "cache-control": "no-store" });
    res.flushHeaders();
    readers.set(runId, res);
    req.on("close", () => readers.delete(runId));
    return;
  }
  let carry = "";
  req.setEncoding("utf8");
  req.on("data", (text: string) => {
    const all = carry + text;
    const end = all.lastIndexOf("\n");
    if (end === -1) {
      carry = all;
      return;
    }
    carry = all.slice(end + 1);
    const id = `${Date.now()}-0`;
    let events = "";
    for (const line of all.slice(0, end).split("\n")) {
      events += sseEvent(id, line);
      relayed++;
    }
    readers.get(runId)?.write(events);
  });
  req.on("end", () => res.end());
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.send?.({ port: typeof address === "object" && address ? address.port : 0 });
});
process.on("message", () => process.send?.({ relayed }));
process.on("disconnect", () => process.exit(0));
