/**
 * Event streams from the shape server shared by the clients that open the same upstream URL at the
 * same moment (docs/decisions/072-realtime-sse-and-cheap-repoll.md). shape-sync's stream for one URL
 * (one shape, one starting offset) is the same bytes for everyone, so a woken burst of 1,000 SSE
 * subscribers of one run costs the shape server one stream and the webapp one upstream read per event;
 * each chunk goes to every client as the same Buffer (no parsing, no copy).
 *
 * A stream takes new clients until its first body byte: after that a newcomer would have missed
 * something, and opens a stream of its own. Each client has its own body (a Readable): its own
 * backpressure, its own end (token expiry, leaving). The last client leaving closes the upstream stream.
 */
import { type ClientRequest, type IncomingMessage, type RequestOptions, request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import type { ClientSignal } from "./clientSignal.server";
import { UpstreamAbortedError, type UpstreamReply } from "./upstreamReply.server";

/** A client this far behind (bytes buffered for it) is cut off; it resumes from its last offset. */
export const MAX_BUFFERED_PER_CLIENT = 4 * 1024 * 1024;

interface Subscriber {
  body: ClientBody;
  /** Waiting for the upstream headers. */
  resolve?: (reply: UpstreamReply) => void;
  reject?: (error: Error) => void;
}

interface SharedStream {
  request: ClientRequest;
  response?: IncomingMessage;
  head?: { status: number; rawHeaders: string[] };
  subscribers: Set<Subscriber>;
  open: boolean;
}

/** One client's view of a shared stream. */
class ClientBody extends Readable {
  constructor(private readonly leave: () => void) {
    super();
    // A failure reaches the consumer as `close` before the end (a broken response, never a truncated
    // one); it may not be listening yet.
    this.on("error", () => {});
  }
  override _read() {}
  override _destroy(error: Error | null, callback: (error?: Error | null) => void) {
    this.leave();
    callback(error);
  }
}

export class SharedEventStreams {
  readonly #joinable = new Map<string, SharedStream>();
  /** Clients attached to an event stream (waiting for its headers or receiving it). */
  #clients = 0;
  /** Upstream event streams open. */
  #open = 0;

  get clients(): number {
    return this.#clients;
  }

  /** Event streams open to the shape server (each shared by one client or more). */
  get upstreams(): number {
    return this.#open;
  }

  /**
   * Opens (or joins) the event stream `key` (its upstream URL), requested with `options` (agent, host,
   * path); rejects with UpstreamAbortedError when `signal` aborts first.
   */
  open(key: string, options: RequestOptions, signal: ClientSignal): Promise<UpstreamReply> {
    if (signal.aborted) return Promise.reject(new UpstreamAbortedError());
    const stream = this.#joinable.get(key) ?? this.#start(key, options);
    return new Promise((resolve, reject) => {
      const subscriber: Subscriber = {
        body: new ClientBody(() => this.#leave(key, stream, subscriber)),
      };
      this.#clients++;
      stream.subscribers.add(subscriber);
      if (stream.head) return resolve(this.#reply(stream, subscriber));
      const onAbort = () => {
        subscriber.body.destroy();
        reject(new UpstreamAbortedError());
      };
      signal.addEventListener("abort", onAbort, { once: true });
      subscriber.resolve = (reply) => {
        signal.removeEventListener("abort", onAbort);
        resolve(reply);
      };
      subscriber.reject = (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      };
    });
  }

  close(): void {
    for (const stream of this.#joinable.values()) stream.request.destroy();
    this.#joinable.clear();
  }

  #reply(stream: SharedStream, subscriber: Subscriber): UpstreamReply {
    subscriber.resolve = undefined;
    subscriber.reject = undefined;
    return { ...stream.head!, body: subscriber.body };
  }

  #leave(key: string, stream: SharedStream, subscriber: Subscriber) {
    if (!stream.subscribers.delete(subscriber)) return;
    this.#clients--;
    if (stream.subscribers.size > 0) return;
    // Nobody wants this stream any more (one that ended cleanly has given its socket back already).
    if (this.#joinable.get(key) === stream) this.#joinable.delete(key);
    if (stream.response?.complete) return;
    this.#finished(stream);
    stream.response?.destroy();
    stream.request.destroy();
  }

  #start(key: string, options: RequestOptions): SharedStream {
    const close = () => {
      if (this.#joinable.get(key) === stream) this.#joinable.delete(key);
    };
    const fail = (error: Error) => {
      close();
      this.#finished(stream);
      for (const s of [...stream.subscribers]) {
        s.reject?.(error);
        s.body.destroy(error);
      }
    };
    const request = httpRequest(options, (res) => {
      stream.response = res;
      stream.head = { status: res.statusCode ?? 502, rawHeaders: res.rawHeaders };
      // Only a stream that has said nothing yet is the same for a newcomer.
      if (stream.head.status !== 200 || !/text\/event-stream/i.test(res.headers["content-type"] ?? "")) close();
      for (const s of stream.subscribers) s.resolve?.(this.#reply(stream, s));
      res.on("data", (chunk: Buffer) => {
        close();
        for (const s of stream.subscribers) {
          s.body.push(chunk);
          if (s.body.readableLength > MAX_BUFFERED_PER_CLIENT) s.body.destroy(new Error("client too far behind"));
        }
      });
      res.once("end", () => {
        close();
        this.#finished(stream);
        for (const s of [...stream.subscribers]) s.body.push(null);
      });
      res.once("error", fail);
      res.once("aborted", () => fail(new Error("upstream event stream aborted")));
    });
    request.once("error", fail);
    request.end();
    const stream: SharedStream = { request, subscribers: new Set(), open: true };
    this.#open++;
    this.#joinable.set(key, stream);
    return stream;
  }

  #finished(stream: SharedStream) {
    if (!stream.open) return;
    stream.open = false;
    this.#open--;
  }
}
