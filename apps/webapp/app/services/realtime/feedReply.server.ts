/**
 * A realtime feed's answer as plain data (status, flat headers, a buffered or streamed body), and the
 * two ways it is written: straight onto the node response (the hot path, server/app.ts) or as a Fetch
 * `Response` (the Remix path). An event stream's body is piped as it arrives, holds its limiter slot
 * until it ends (`done`), and is ended at the token's expiry (`endAt`): the client resumes with a fresh
 * token from the last offset it saw.
 */
import type { ServerResponse } from "node:http";
import type { Readable } from "node:stream";

export interface FeedReply {
  status: number;
  /** Flat: name, value, name, value… (may be shared by the replies of one upstream answer: never mutated) */
  headers: string[];
  body: Buffer | Readable | null;
  /** Called exactly once when a streamed body ends, fails, is cut at `endAt` or its client goes away. */
  done?: () => Promise<void> | void;
  /** A streamed body is ended at this time (epoch ms). */
  endAt?: number;
  /**
   * Ends a streamed body early when its credential is refused (a rolled or revoked key): called with
   * the end, returns the function that stops watching.
   */
  watch?: (end: () => void) => () => void;
}

/** A JSON answer of the proxy itself (429, 503…), with the CORS headers the route's answers carry. */
export function jsonReply(
  status: number,
  body: unknown,
  origin: string,
  extra: Record<string, string> = {},
): FeedReply {
  const headers = ["access-control-allow-origin", origin, "vary", "Origin"];
  for (const [name, value] of Object.entries(extra)) headers.push(name, value);
  if (body === null) return { status, headers, body: null };
  headers.push("content-type", "application/json");
  return { status, headers, body: Buffer.from(JSON.stringify(body)) };
}

/** The longest delay setTimeout takes; a later `endAt` is left to the upstream's own stream timeout. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs `done` once, and cuts the body at `endAt` or when its credential is refused. */
function lifecycle(reply: FeedReply, cut: () => void) {
  let finished = false;
  const timer =
    reply.endAt !== undefined && reply.endAt - Date.now() < MAX_TIMER_MS
      ? setTimeout(
          () => {
            cut();
            finish();
          },
          Math.max(0, reply.endAt - Date.now()),
        )
      : undefined;
  const finish = () => {
    if (finished) return;
    finished = true;
    if (timer) clearTimeout(timer);
    unwatch?.();
    void reply.done?.();
  };
  const unwatch = reply.watch?.(() => {
    cut();
    finish();
  });
  return finish;
}

/** Writes the reply onto a node response: a buffered body at once, a streamed one piped with backpressure. */
export function sendFeedReply(res: ServerResponse, reply: FeedReply): void {
  const { body } = reply;
  if (body === null || Buffer.isBuffer(body)) {
    void reply.done?.();
    if (body === null) {
      res.writeHead(reply.status, reply.headers);
      res.end();
      return;
    }
    // Sized (not chunked), and written as one string with the head: one socket write per client.
    // latin1 maps bytes to characters one to one, as node writes the head itself, so nothing changes
    // on the wire; a shared poll's clients hold the same Buffer, decoded once.
    res.writeHead(reply.status, [...reply.headers, "content-length", String(body.length)]);
    res.end(latin1Of(body), "latin1");
    return;
  }
  res.writeHead(reply.status, reply.headers);
  res.flushHeaders(); // an event stream's first event may be far off
  let ended = false;
  const finish = lifecycle(reply, () => {
    ended = true;
    body.destroy();
    res.end();
  });
  body.on("data", (chunk: Buffer) => {
    if (!res.write(chunk)) {
      body.pause();
      res.once("drain", () => body.resume());
    }
  });
  body.once("end", () => {
    ended = true;
    res.end();
    finish();
  });
  // Upstream cut short (not a clean end): the client must see a broken response, never a truncated one.
  body.once("close", () => {
    if (!ended) res.destroy();
    finish();
  });
  body.once("error", () => {});
  res.once("close", () => {
    if (!ended) body.destroy();
    finish();
  });
}

const latin1Bodies = new WeakMap<Buffer, string>();
function latin1Of(body: Buffer): string {
  let text = latin1Bodies.get(body);
  if (text === undefined) latin1Bodies.set(body, (text = body.toString("latin1")));
  return text;
}

/** The reply as a Fetch Response (the Remix path). */
export function feedReplyResponse(reply: FeedReply): Response {
  const headers = new Headers();
  for (let i = 0; i < reply.headers.length; i += 2) headers.append(reply.headers[i]!, reply.headers[i + 1]!);
  const { body } = reply;
  if (body === null || Buffer.isBuffer(body)) {
    void reply.done?.();
    return new Response(body as BodyInit | null, { status: reply.status, headers });
  }
  let closed = false;
  let finish = () => {};
  const stream = new ReadableStream<Uint8Array>({
    start(controller) {
      const close = () => {
        if (closed) return;
        closed = true;
        controller.close();
      };
      finish = lifecycle(reply, () => {
        body.destroy();
        close();
      });
      body.on("data", (chunk: Buffer) => {
        if (closed) return;
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 1) <= 0) body.pause();
      });
      body.once("end", () => {
        close();
        finish();
      });
      body.once("close", () => {
        if (!closed) {
          closed = true;
          controller.error(new Error("upstream response cut short"));
        }
        finish();
      });
      body.once("error", () => {});
    },
    pull() {
      body.resume();
    },
    cancel() {
      closed = true;
      body.destroy();
      finish();
    },
  });
  return new Response(stream, { status: reply.status, headers });
}
