/**
 * The realtime proxy (realtime-contract §3, checklist #3, #5–#14, #19, #26–#28, #37):
 * limiter → rewrite → stream the upstream shape response back.
 *
 * Nothing from the client reaches upstream but the Electric protocol parameters: no headers, no
 * table/where/columns/params. The upstream request follows the client (its ClientSignal), so a client
 * that goes away aborts the long-poll upstream and releases its limiter slot.
 */
import {
  ELECTRIC_EXPOSED_HEADERS,
  ELECTRIC_HANDLE_HEADER,
  EXPERIMENTAL_LIVE_SSE_PARAM,
  INITIAL_OFFSET,
  LIVE_PARAM,
  LIVE_SSE_PARAM,
  NOW_OFFSET,
  OFFSET_PARAM,
  TRIGGER_API_VERSION,
} from "@runfeed/core";
import type { Authentication } from "../auth.server";
import type { ApiVersion } from "../apiRoute.server";
import type { Services } from "../services.server";
import type { ClientSignal } from "./clientSignal.server";
import { type FeedReply, jsonReply } from "./feedReply.server";
import { admitLive } from "./liveAdmission.server";
import {
  type QueryParams,
  type RealtimeFeed,
  createdAtFloor,
  hasHandle,
  parseQuery,
  shapePath,
} from "./shapeRewrite.server";
import { credentialWatch } from "./streamCredentialChecks.server";
import { UpstreamAbortedError, rawHeader } from "./shapeUpstream.server";
import { errorBody } from "../httpErrors.server";

export interface ProxyFeedArgs {
  services: Services;
  /** The client's query string (without `?`). */
  query: string;
  /** The client's Origin header, if any. */
  origin: string | null;
  authentication: Authentication;
  feed: RealtimeFeed;
  apiVersion: ApiVersion;
  /** The client going away (the Fetch request's signal, or the node response's close). */
  signal: ClientSignal;
  /** Tag feed: the raw `createdAt` query value. */
  createdAt?: string;
  /** The request's credential, authenticated again while an event stream is open (072). */
  credential?: () => StreamCredential;
}

export interface StreamCredential {
  /** Streams with the same key share one check. */
  key: string;
  authenticate: () => Promise<unknown>;
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
  "cache-control",
]);
const EXPOSE = ELECTRIC_EXPOSED_HEADERS.join(", ");

/**
 * The headers a client gets: the upstream's (hop-by-hop and rewritten ones dropped), the exposed-headers
 * list, CORS for its origin and `no-store` (the response is authorised per token: never let a shared
 * cache keep it). Built once per upstream answer and origin: a shared long-poll's 1,000 waiters hold
 * the same raw headers.
 */
const forwarded = new WeakMap<readonly string[], Map<string, string[]>>();
function clientHeaders(raw: readonly string[], origin: string): string[] {
  let byOrigin = forwarded.get(raw);
  if (!byOrigin) forwarded.set(raw, (byOrigin = new Map()));
  let headers = byOrigin.get(origin);
  if (headers) return headers;
  headers = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (!DROPPED_HEADERS.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
  }
  headers.push("access-control-expose-headers", EXPOSE, "access-control-allow-origin", origin);
  if (origin !== "*") headers.push("vary", "Origin");
  headers.push("cache-control", "no-store");
  byOrigin.set(origin, headers);
  return headers;
}
const DEQUEUED = Buffer.from('"status":"DEQUEUED"');
const EXECUTING = Buffer.from('"status":"EXECUTING"');

/** Whether the client asked for live mode over server-sent events (Electric's `live_sse`, or the older name). */
export function wantsEventStream(incoming: QueryParams): boolean {
  return (
    incoming.get(LIVE_PARAM) === "true" &&
    (incoming.get(LIVE_SSE_PARAM) === "true" || incoming.get(EXPERIMENTAL_LIVE_SSE_PARAM) === "true")
  );
}

export async function proxyRealtimeFeed(args: ProxyFeedArgs): Promise<FeedReply> {
  const { services, authentication, feed, signal } = args;
  const { env, realtime } = services;
  const incoming = parseQuery(args.query);
  const environment = authentication.environment;
  const origin = args.origin ?? "*";

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

  const path = shapePath({
    incoming,
    environmentId: environment.id,
    feed,
    claimSkipColumns: authentication.type === "PUBLIC_JWT" ? authentication.realtime?.skipColumns : undefined,
    createdAtFloor: floor,
    secret: env.ELECTRIC_SECRET,
  });

  // Only live requests continuing a handle hold a slot (#37); an event stream holds it for its life.
  const live = incoming.get(LIVE_PARAM) === "true" && hasHandle(incoming);
  const eventStream = wantsEventStream(incoming);
  let release: (() => Promise<void>) | undefined;
  if (live) {
    // A long-poll may be admitted without waiting for Redis while usage is well below the limit (050);
    // an event stream, which holds its slot for long, always waits for the exact answer.
    const admission = await admitLive(services, authentication, origin, { optimistic: !eventStream });
    if ("reply" in admission) return admission.reply;
    release = admission.release;
  }

  let upstream: Awaited<ReturnType<typeof realtime.upstream.get>>;
  try {
    upstream = await realtime.upstream.get(
      env.ELECTRIC_ORIGIN,
      path,
      signal,
      eventStream ? "stream" : live ? "poll" : "single",
    );
  } catch (error) {
    void release?.();
    if (error instanceof UpstreamAbortedError || signal.aborted) return jsonReply(499, null, origin);
    services.logger.warn({ err: (error as Error).message, origin: env.ELECTRIC_ORIGIN }, "shape server unreachable");
    return jsonReply(503, errorBody("Realtime service unavailable, retry later"), origin, {
      "retry-after": "1",
      "cache-control": "no-store",
    });
  }

  const raw = upstream.rawHeaders;
  const headers = clientHeaders(raw, origin);

  try {
    const handle = rawHeader(raw, ELECTRIC_HANDLE_HEADER);
    if (storeFloor && floor && handle && upstream.status === 200) {
      const error = await realtime.createdAtCache.set(handle, floor);
      if (error) services.logger.warn({ err: error.message }, "could not cache the createdAt floor");
    }
  } catch (error) {
    void release?.();
    if (upstream.body && !Buffer.isBuffer(upstream.body)) upstream.body.destroy();
    throw error;
  }

  const isEventStream = (rawHeader(raw, "content-type") ?? "").includes("text/event-stream");
  // A long-poll's upstream answers headers and body together once there is something to say, so the
  // wait is over when the headers arrive: release now. An event stream keeps its slot until it ends.
  // Not awaited: the ZREM must not delay the response (release never throws).
  if (release && !isEventStream) {
    void release();
    release = undefined;
  }
  let body = upstream.body;
  // Clients without the Trigger.dev API version header never see DEQUEUED (checklist #19).
  if (
    feed.kind !== "logs" &&
    args.apiVersion !== TRIGGER_API_VERSION &&
    upstream.status === 200 &&
    !isEventStream &&
    body
  ) {
    body = replaceAll(Buffer.isBuffer(body) ? body : await readAll(body), DEQUEUED, EXECUTING);
  }
  const endAt =
    isEventStream && authentication.type === "PUBLIC_JWT" && authentication.exp !== undefined
      ? authentication.exp * 1000
      : undefined;
  const watch = isEventStream ? credentialWatch(realtime.streamChecks, args.credential?.()) : undefined;
  return { status: upstream.status, headers, body, done: release, endAt, watch };
}

function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}

/** `source` with every `from` replaced by `to`; `source` itself when there is none. */
function replaceAll(source: Buffer, from: Buffer, to: Buffer): Buffer {
  let at = source.indexOf(from);
  if (at === -1) return source;
  const parts: Buffer[] = [];
  let start = 0;
  while (at !== -1) {
    parts.push(source.subarray(start, at), to);
    start = at + from.length;
    at = source.indexOf(from, start);
  }
  parts.push(source.subarray(start));
  return Buffer.concat(parts);
}
