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
import {
  Agent,
  type ClientRequest,
  type IncomingMessage,
  type RequestOptions,
  request as httpRequest,
} from "node:http";
import { Readable } from "node:stream";
import { type ClientSignal, toAbortSignal } from "./clientSignal.server";
import { SharedEventStreams } from "./sharedEventStreams.server";
import { UpstreamAbortedError, type UpstreamReply } from "./upstreamReply.server";
import type { Metrics } from "../metrics.server";

export { UpstreamAbortedError, type UpstreamReply };

/** `single`: one client's own request; `poll`: a live long-poll, shared; `stream`: an event stream, shared. */
export type UpstreamKind = "single" | "poll" | "stream";

const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const REQUEST_HEADERS = { accept: "*/*" };

/** ELECTRIC_ORIGIN taken apart once: an http: origin is requested with node:http, anything else with fetch. */
interface Origin {
  href: string;
  http: boolean;
  hostname: string;
  port: string;
  /** The origin's own path (no trailing slash), put in front of every request's path. */
  prefix: string;
}

interface SharedPoll {
  key: string;
  waiters: Set<PollWaiter>;
  request: ClientRequest;
}

/**
 * One client of a shared poll. A class (its abort listener is the object itself, `handleEvent`)
 * rather than closures: the webapp's server code runs under tsx, whose keepNames gives every named
 * closure a `__name` call per request.
 */
class PollWaiter {
  resolve!: (reply: UpstreamReply) => void;
  reject!: (error: Error) => void;
  constructor(
    readonly poll: SharedPoll,
    readonly signal: ClientSignal,
    private readonly leave: (waiter: PollWaiter) => void,
  ) {}
  handleEvent(): void {
    this.leave(this);
  }
  settle(reply: UpstreamReply | Error): void {
    this.signal.removeEventListener("abort", this);
    if (reply instanceof Error) this.reject(reply);
    else this.resolve(reply);
  }
}

export interface ShapeUpstreamOptions {
  metrics?: Pick<Metrics, "sources">;
}

export class ShapeUpstream {
  readonly #agent = new Agent({ keepAlive: true, maxFreeSockets: 4_096, scheduling: "lifo" });
  readonly #shared = new Map<string, SharedPoll>();
  readonly #streams = new SharedEventStreams();
  readonly #origins = new Map<string, Origin>();
  readonly #leave = (waiter: PollWaiter) => this.#leavePoll(waiter);
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
   * GET `path` (with its query) at `origin`, built as strings: no `URL` on a re-poll's path. A `poll`
   * may be shared with identical requests in flight (its body is then buffered, since it goes to
   * several clients); a `stream` likewise, each client getting its own body. Rejects with
   * UpstreamAbortedError when `signal` aborts first, with the network error otherwise; never follows
   * redirects.
   */
  get(origin: string, path: string, signal: ClientSignal, kind: UpstreamKind): Promise<UpstreamReply> {
    const target = this.#origin(origin);
    if (!target.http) return fetchReply(new URL(target.prefix + path, target.href), signal);
    const key = target.href + path;
    if (kind === "poll") return this.#join(key, target, path, signal);
    if (kind === "stream") return this.#streams.open(key, this.#options(target, path), signal);
    return this.#single(this.#options(target, path), signal);
  }

  close(): void {
    this.#streams.close();
    for (const poll of this.#shared.values()) poll.request.destroy();
    this.#shared.clear();
    this.#agent.destroy();
  }

  #origin(origin: string): Origin {
    let parsed = this.#origins.get(origin);
    if (!parsed) {
      const url = new URL(origin);
      parsed = {
        href: url.origin,
        http: url.protocol === "http:",
        hostname: url.hostname.replace(/^\[|\]$/g, ""),
        port: url.port || "80",
        prefix: url.pathname.replace(/\/+$/, ""),
      };
      this.#origins.set(origin, parsed);
    }
    return parsed;
  }

  #options(target: Origin, path: string): RequestOptions {
    return {
      agent: this.#agent,
      hostname: target.hostname,
      port: target.port,
      path: target.prefix + path,
      headers: REQUEST_HEADERS,
    };
  }

  #single(options: RequestOptions, signal: ClientSignal): Promise<UpstreamReply> {
    this.#waiting++;
    const settled = <T>(value: T) => {
      this.#waiting--;
      return value;
    };
    const failed = (error: unknown) => {
      this.#waiting--;
      throw error;
    };
    return this.#singleRequest(options, signal).then(settled, failed);
  }

  #singleRequest(options: RequestOptions, signal: ClientSignal): Promise<UpstreamReply> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(new UpstreamAbortedError());
      const onAbort = () => {
        req.destroy();
        reject(new UpstreamAbortedError());
      };
      const req = httpRequest(options, (res) => {
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

  #join(key: string, target: Origin, path: string, signal: ClientSignal): Promise<UpstreamReply> {
    if (signal.aborted) return Promise.reject(new UpstreamAbortedError());
    const poll = this.#shared.get(key) ?? this.#start(key, this.#options(target, path));
    const waiter = new PollWaiter(poll, signal, this.#leave);
    const answer = new Promise<UpstreamReply>((resolve, reject) => {
      waiter.resolve = resolve;
      waiter.reject = reject;
    });
    this.#waiting++;
    signal.addEventListener("abort", waiter, { once: true });
    poll.waiters.add(waiter);
    return answer;
  }

  /** A client left before its shared poll was answered: it frees only itself, the last one the poll. */
  #leavePoll(waiter: PollWaiter) {
    const { poll } = waiter;
    if (!poll.waiters.delete(waiter)) return;
    this.#waiting--;
    // The last client of a poll still waiting upstream: nobody wants its answer any more.
    if (poll.waiters.size === 0 && this.#shared.get(poll.key) === poll) {
      this.#shared.delete(poll.key);
      poll.request.destroy();
    }
    waiter.reject(new UpstreamAbortedError());
  }

  /** Answers every client of `poll` (once), and forgets it. */
  #settle(poll: SharedPoll, reply: UpstreamReply | Error) {
    if (this.#shared.get(poll.key) === poll) this.#shared.delete(poll.key);
    this.#waiting -= poll.waiters.size;
    for (const waiter of poll.waiters) waiter.settle(reply);
    poll.waiters.clear();
  }

  #start(key: string, options: RequestOptions): SharedPoll {
    const request = httpRequest(options, (res) => {
      // The wait is over once the headers arrive: a request arriving from now on starts a poll of its own.
      if (this.#shared.get(key) === poll) this.#shared.delete(key);
      const status = res.statusCode ?? 502;
      const rawHeaders = res.rawHeaders;
      if (NULL_BODY_STATUSES.has(status)) {
        res.resume();
        return this.#settle(poll, { status, rawHeaders, body: null });
      }
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.once("end", () => {
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
        this.#settle(poll, { status, rawHeaders, body });
      });
      res.once("error", (error) => this.#settle(poll, error));
      res.once("aborted", () => this.#settle(poll, new Error("upstream response aborted")));
    });
    request.once("error", (error) => this.#settle(poll, error));
    request.end();
    const poll: SharedPoll = { key, waiters: new Set(), request };
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
async function fetchReply(url: URL, signal: ClientSignal): Promise<UpstreamReply> {
  let response: Response;
  try {
    response = await fetch(url, { signal: toAbortSignal(signal), redirect: "manual" });
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
