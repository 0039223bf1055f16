/**
 * The realtime proxy (realtime-contract §3, checklist #3, #5–#14, #19, #26–#28, #37):
 * limiter → rewrite → stream the upstream shape response back.
 *
 * Nothing from the client reaches upstream but the Electric protocol parameters: no headers, no
 * table/where/columns/params. The upstream fetch carries the request's AbortSignal, so a client
 * that goes away aborts the long-poll upstream and releases its limiter slot.
 */
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import {
  ELECTRIC_EXPOSED_HEADERS,
  ELECTRIC_HANDLE_HEADER,
  INITIAL_OFFSET,
  LIVE_PARAM,
  NOW_OFFSET,
  OFFSET_PARAM,
  TRIGGER_API_VERSION,
} from "@runfeed/core";
import type { Authentication } from "../auth.server";
import type { ApiVersion } from "../apiRoute.server";
import type { Services } from "../services.server";
import { buildShapeUrl, createdAtFloor, hasHandle, type RealtimeFeed } from "./shapeRewrite.server";

export interface ProxyFeedArgs {
  services: Services;
  request: Request;
  authentication: Authentication;
  feed: RealtimeFeed;
  apiVersion: ApiVersion;
  signal: AbortSignal;
  /** Tag feed: the raw `createdAt` query value. */
  createdAt?: string;
}

/** Hop-by-hop or rewritten upstream headers never copied to the client. */
const DROPPED_HEADERS = new Set([
  "content-encoding",
  "content-length",
  "transfer-encoding",
  "connection",
  "keep-alive",
  "access-control-allow-origin",
  "access-control-expose-headers",
  "access-control-allow-credentials",
  "vary",
]);
const EXPOSE = ELECTRIC_EXPOSED_HEADERS.join(", ");

export async function proxyRealtimeFeed(args: ProxyFeedArgs): Promise<Response> {
  const { services, request, authentication, feed, signal } = args;
  const { env, realtime } = services;
  const incoming = new URL(request.url).searchParams;
  const environment = authentication.environment;
  const origin = request.headers.get("origin") ?? "*";

  // createdAt floor (tag feed): a new shape computes it; a request continuing a handle reads it back.
  let floor: Date | undefined;
  let storeFloor = false;
  if (feed.kind === "tags") {
    const offset = incoming.get(OFFSET_PARAM);
    // Electric ignores `handle` when offset is -1/now, so those requests start a shape afresh.
    const startsShape = !hasHandle(incoming) || offset === null || offset === INITIAL_OFFSET || offset === NOW_OFFSET;
    if (startsShape) {
      floor = createdAtFloor(args.createdAt, Date.now(), env.REALTIME_MAXIMUM_CREATED_AT_FILTER_AGE_IN_MS);
      storeFloor = true;
    } else {
      floor = await realtime.createdAtCache.get(incoming.get("handle") ?? incoming.get("shape_id") ?? "");
    }
  }

  const url = buildShapeUrl({
    origin: env.ELECTRIC_ORIGIN,
    incoming,
    environmentId: environment.id,
    feed,
    claimSkipColumns: authentication.type === "PUBLIC_JWT" ? authentication.realtime?.skipColumns : undefined,
    createdAtFloor: floor,
    secret: env.ELECTRIC_SECRET,
  });

  // Only live requests continuing a handle hold a slot (#37).
  let release: (() => Promise<void>) | undefined;
  if (incoming.get(LIVE_PARAM) === "true" && hasHandle(incoming)) {
    const limit = environment.realtimeConcurrencyLimit ?? env.REALTIME_DEFAULT_CONCURRENCY_LIMIT;
    const admission = await realtime.limiter.acquire(environment.id, limit);
    if (admission.kind === "rejected") {
      return Response.json({ error: "Too many concurrent requests" }, { status: 429, headers: { "retry-after": "1" } });
    }
    if (admission.kind === "unavailable") {
      return Response.json(
        { error: "Realtime concurrency limiter unavailable" },
        { status: 503, headers: { "retry-after": "1" } },
      );
    }
    release = admission.release;
  }

  let upstream: Response;
  try {
    upstream = await fetchUpstream(url, signal);
  } catch (error) {
    await release?.();
    if (signal.aborted) return new Response(null, { status: 499 });
    services.logger.warn({ err: (error as Error).message, origin: env.ELECTRIC_ORIGIN }, "shape server unreachable");
    return Response.json(
      { error: "Realtime service unavailable, retry later" },
      { status: 503, headers: { "retry-after": "1", "cache-control": "no-store" } },
    );
  }

  try {
    const headers = new Headers();
    upstream.headers.forEach((value, name) => {
      if (!DROPPED_HEADERS.has(name)) headers.set(name, value);
    });
    headers.set("access-control-allow-origin", origin);
    headers.set("access-control-expose-headers", EXPOSE);
    if (origin !== "*") headers.set("vary", "Origin");
    // The response is authorised per token: never let a shared cache keep it.
    headers.set("cache-control", "no-store");

    const handle = upstream.headers.get(ELECTRIC_HANDLE_HEADER);
    if (storeFloor && floor && handle && upstream.status === 200) {
      const error = await realtime.createdAtCache.set(handle, floor);
      if (error) services.logger.warn({ err: error.message }, "could not cache the createdAt floor");
    }

    const isEventStream = (upstream.headers.get("content-type") ?? "").includes("text/event-stream");
    // A long-poll's upstream answers headers and body together once there is something to say, so
    // the wait is over when the headers arrive: release now. An SSE stream keeps its slot until it ends.
    // Not awaited: the ZREM must not delay the response (release never throws).
    if (release && !isEventStream) {
      void release();
      release = undefined;
    }
    const rewriteDequeued =
      feed.kind !== "logs" && args.apiVersion !== TRIGGER_API_VERSION && upstream.status === 200 && !isEventStream;
    if (rewriteDequeued) {
      const text = (await upstream.text()).replaceAll('"status":"DEQUEUED"', '"status":"EXECUTING"');
      await release?.();
      return new Response(text, { status: upstream.status, headers });
    }
    if (!upstream.body) {
      await release?.();
      return new Response(null, { status: upstream.status, headers });
    }
    const body = release ? releasingStream(upstream.body, release) : upstream.body;
    return new Response(body, { status: upstream.status, headers });
  } catch (error) {
    await release?.();
    await upstream.body?.cancel().catch(() => {});
    if (signal.aborted) return new Response(null, { status: 499 });
    throw error;
  }
}

/** Passes `source` through and calls `done` exactly once when it ends, errors or is cancelled. */
function releasingStream(source: ReadableStream<Uint8Array>, done: () => Promise<void>): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let finished = false;
  const finish = () => {
    if (finished) return;
    finished = true;
    void done();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: end, value } = await reader.read();
        if (end) {
          finish();
          controller.close();
        } else {
          controller.enqueue(value);
        }
      } catch (error) {
        finish();
        controller.error(error);
      }
    },
    async cancel(reason) {
      finish();
      await reader.cancel(reason).catch(() => {});
    },
  });
}

/**
 * The upstream request: node:http with a keep-alive agent for an http: origin (undici's `fetch` cost
 * several hundred µs of CPU more per long-poll, on both the request and the response side —
 * docs/decisions/071-realtime-repoll-cpu.md), `fetch` otherwise. Same contract as
 * `fetch(url, { signal, redirect: "manual" })` for what the proxy reads: status, headers (repeated
 * ones joined with ", "), a body that is buffered for a long-poll and streamed for an event stream,
 * rejection on a network error or abort. No client header is sent (none is forwarded), nor
 * `accept-encoding` (so the body is never compressed).
 */
const upstreamAgent = new Agent({ keepAlive: true, maxFreeSockets: 4_096, scheduling: "lifo" });
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);

function fetchUpstream(url: URL, signal: AbortSignal): Promise<Response> {
  if (url.protocol !== "http:") return fetch(url, { signal, redirect: "manual" });
  return new Promise<Response>((resolve, reject) => {
    const req = httpRequest(url, { agent: upstreamAgent, signal, headers: { accept: "*/*" } }, (res) => {
      const headers = new Headers();
      const raw = res.rawHeaders;
      for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
      const status = res.statusCode ?? 502;
      const init = { status, statusText: res.statusMessage ?? "", headers };
      if (NULL_BODY_STATUSES.has(status)) {
        res.resume();
        return resolve(new Response(null, init));
      }
      if ((headers.get("content-type") ?? "").includes("text/event-stream")) {
        return resolve(new Response(Readable.toWeb(res) as ReadableStream<Uint8Array>, init));
      }
      readAll(res).then((body) => resolve(new Response(body as unknown as BodyInit, init)), reject);
    });
    req.once("error", reject);
    req.end();
  });
}

function readAll(res: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on("data", (chunk: Buffer) => chunks.push(chunk));
    res.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    res.once("error", reject);
    res.once("aborted", () => reject(new Error("upstream response aborted")));
  });
}
