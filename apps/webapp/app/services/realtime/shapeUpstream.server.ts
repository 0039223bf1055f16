/**
 * Requests to the shape server (docs/decisions/071-realtime-repoll-cpu.md, 072-realtime-sse-and-cheap-repoll.md):
 * node:http over one keep-alive agent, no Fetch `Request`/`Response` on the way, and live long-polls
 * with the same upstream URL shared while they are in flight.
 *
 * Sharing is what a CDN in front of Electric does with its live requests (the `cursor` parameter
 * exists to make it safe): the upstream URL is built entirely by the webapp (environment, feed, where
 * text, columns, secret), so two clients asking for the same URL are owed the same answer. A woken
 * burst of 1,000 re-polls of one shape then costs one upstream request and one upstream answer.
 * Event streams opened at the same moment are shared likewise until their first byte
 * (sharedEventStreams.server.ts); a catch-up request answers at once and is never shared.
 */
import { Agent, type ClientRequest, type IncomingMessage, request as httpRequest } from "node:http";
import { Readable } from "node:stream";
import { SharedEventStreams } from "./sharedEventStreams.server";
import { UpstreamAbortedError, type UpstreamReply } from "./upstreamReply.server";
import type { Metrics } from "../metrics.server";

export { UpstreamAbortedError, type UpstreamReply };

/** `single`: one client's own request; `poll`: a live long-poll, shared; `stream`: an event stream, shared. */
export type UpstreamKind = "single" | "poll" | "stream";

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

interface Waiter {
  resolve(reply: UpstreamReply): void;
  reject(error: Error): void;
}

interface SharedPoll {
  waiters: Set<Waiter>;
  request: ClientRequest;
}

export interface ShapeUpstreamOptions {
  metrics?: Pick<Metrics, "sources">;
}

export class ShapeUpstream {
  readonly #agent = new Agent({ keepAlive: true, maxFreeSockets: 4_096, scheduling: "lifo" });
  readonly #shared = new Map<string, SharedPoll>();
  readonly #streams = new SharedEventStreams(this.#agent);
  /** Clients waiting for an upstream answer (shared or not). */
  #waiting = 0;

  constructor(options: ShapeUpstreamOptions = {}) {
    const { metrics } = options;
    if (metrics) {
      metrics.sources.upstreamWaiting = () => this.#waiting;
      metrics.sources.upstreamSharedPolls = () => this.#shared.size;
      metrics.sources.upstreamEventStreamClients = () => this.#streams.clients;
    }
  }

  /** Clients waiting for the shape server's answer right now. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Clients on an event stream from the shape server right now (shared streams count each client). */
  get eventStreamClients(): number {
    return this.#streams.clients;
  }

  /** Event streams open to the shape server (each shared by one client or more). */
  get eventStreams(): number {
    return this.#streams.upstreams;
  }

  /** Live long-polls currently shared (one upstream request each). */
  get sharedPolls(): number {
    return this.#shared.size;
  }

  /**
   * GET `url`. A `poll` may be shared with identical requests in flight (its body is then buffered,
   * since it goes to several clients); a `stream` likewise, each client getting its own body. Rejects
   * with UpstreamAbortedError when `signal` aborts first, with the network error otherwise; never
   * follows redirects.
   */
  get(url: URL, signal: AbortSignal, kind: UpstreamKind): Promise<UpstreamReply> {
    if (url.protocol !== "http:") return fetchReply(url, signal);
    if (kind === "stream") return this.#streams.open(url, signal);
    if (kind === "poll") return this.#join(url, signal);
    return this.#single(url, signal);
  }

  close(): void {
    this.#streams.close();
    for (const poll of this.#shared.values()) poll.request.destroy();
    this.#shared.clear();
    this.#agent.destroy();
  }

  #single(url: URL, signal: AbortSignal): Promise<UpstreamReply> {
    this.#waiting++;
    const settled = <T>(value: T) => {
      this.#waiting--;
      return value;
    };
    const failed = (error: unknown) => {
      this.#waiting--;
      throw error;
    };
    return this.#singleRequest(url, signal).then(settled, failed);
  }

  #singleRequest(url: URL, signal: AbortSignal): Promise<UpstreamReply> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new UpstreamAbortedError());
      const onAbort = () => {
        req.destroy();
        reject(new UpstreamAbortedError());
      };
      const req = httpRequest(url, { agent: this.#agent, headers: { accept: "*/*" } }, (res) => {
        signal.removeEventListener("abort", onAbort);
        if (signal.aborted) {
          res.destroy();
          return reject(new UpstreamAbortedError());
        }
        resolve(streamedReply(res));
      });
      signal.addEventListener("abort", onAbort, { once: true });
      req.once("error", (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      });
      req.end();
    });
  }

  #join(url: URL, signal: AbortSignal): Promise<UpstreamReply> {
    const key = url.href;
    let poll = this.#shared.get(key);
    if (!poll) poll = this.#start(key, url);
    const shared = poll;
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new UpstreamAbortedError());
      this.#waiting++;
      const waiter: Waiter = {
        resolve: (reply) => {
          this.#waiting--;
          signal.removeEventListener("abort", onAbort);
          resolve(reply);
        },
        reject: (error) => {
          this.#waiting--;
          signal.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      const onAbort = () => {
        this.#waiting--;
        shared.waiters.delete(waiter);
        // The last client of a poll still waiting upstream: nobody wants its answer any more.
        if (shared.waiters.size === 0 && this.#shared.get(key) === shared) {
          this.#shared.delete(key);
          shared.request.destroy();
        }
        reject(new UpstreamAbortedError());
      };
      signal.addEventListener("abort", onAbort, { once: true });
      shared.waiters.add(waiter);
    });
  }

  #start(key: string, url: URL): SharedPoll {
    const waiters = new Set<Waiter>();
    const fail = (error: Error) => {
      if (this.#shared.get(key) === poll) this.#shared.delete(key);
      for (const w of waiters) w.reject(error);
      waiters.clear();
    };
    const request = httpRequest(url, { agent: this.#agent, headers: { accept: "*/*" } }, (res) => {
      // The wait is over once the headers arrive: a request arriving from now on starts a poll of its own.
      if (this.#shared.get(key) === poll) this.#shared.delete(key);
      const status = res.statusCode ?? 502;
      const rawHeaders = res.rawHeaders;
      if (NULL_BODY_STATUSES.has(status)) {
        res.resume();
        for (const w of waiters) w.resolve({ status, rawHeaders, body: null });
        waiters.clear();
        return;
      }
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () => {
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        for (const w of waiters) w.resolve({ status, rawHeaders, body });
        waiters.clear();
      });
      res.once("error", fail);
      res.once("aborted", () => fail(new Error("upstream response aborted")));
    });
    request.once("error", fail);
    request.end();
    const poll: SharedPoll = { waiters, request };
    this.#shared.set(key, poll);
    return poll;
  }
}

function streamedReply(res: IncomingMessage): UpstreamReply {
  const status = res.statusCode ?? 502;
  if (NULL_BODY_STATUSES.has(status)) {
    res.resume();
    return { status, rawHeaders: res.rawHeaders, body: null };
  }
  return { status, rawHeaders: res.rawHeaders, body: res };
}

/** Any other origin (https:): `fetch`, its answer in the same shape. */
async function fetchReply(url: URL, signal: AbortSignal): Promise<UpstreamReply> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "manual" });
  } catch (error) {
    if (signal.aborted) throw new UpstreamAbortedError();
    throw error;
  }
  const rawHeaders: string[] = [];
  response.headers.forEach((value, name) => rawHeaders.push(name, value));
  const body = response.body ? Readable.fromWeb(response.body as import("node:stream/web").ReadableStream) : null;
  return { status: response.status, rawHeaders, body };
}

/** The first value of header `name` (lower case) in flat raw headers. */
export function rawHeader(rawHeaders: readonly string[], name: string): string | undefined {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.length === name.length && rawHeaders[i]!.toLowerCase() === name) return rawHeaders[i + 1];
  }
  return undefined;
}
