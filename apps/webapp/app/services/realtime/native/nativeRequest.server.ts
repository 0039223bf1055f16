/**
 * What every native feed shares (docs/decisions/073-realtime-notifier-backend.md): the request's
 * validation in the shape server's terms (400s), the limiter slot of a live request, the 503 on
 * failure, and the live answer — an event stream, or a long-poll that looks again at every signal and
 * every backstop and answers "nothing new" only after LIVE_HOLD_MS. The run feeds (nativeFeed) and the
 * log feed (nativeLogFeed) differ only in what a step reads and how their state moves.
 */
import {
  HANDLE_PARAM,
  LIVE_PARAM,
  type LogOffset,
  OFFSET_PARAM,
  type OffsetAt,
  type ShapeMessage,
  nextCursor,
  parseOffset,
} from "@runfeed/core";
import { type FeedReply, jsonReply } from "../feedReply.server";
import { admitLive } from "../liveAdmission.server";
import { type ProxyFeedArgs, wantsEventStream } from "../shapeProxy.server";
import { credentialWatch } from "../streamCredentialChecks.server";
import { answer, invalid } from "./nativeReply.server";
import { nativeEventStream } from "./nativeSse.server";
import type { SignalListener } from "./runSignals.server";

/**
 * How long a live request with nothing new is held before it answers "nothing new": as long as the
 * shape server holds one (its default long-poll timeout), so an idle subscriber costs a round trip
 * (authentication, limiter, subscription, the client's own work) every 20 s on either backend rather
 * than at every backstop. Never shorter than the backstop.
 */
export const LIVE_HOLD_MS = 20_000;

/** Reads the feed once; when it moved, records the client's new state and returns the changes at their offset. */
export type FeedStep = () => Promise<{ messages: ShapeMessage[]; offset: OffsetAt } | undefined>;

/** A validated request: what every step below needs. */
export interface NativeRequest<Args extends ProxyFeedArgs = ProxyFeedArgs> {
  args: Args;
  incoming: URLSearchParams;
  origin: string;
  offset: LogOffset;
  live: boolean;
  handle: string | undefined;
  /** The limiter slot of a live request: released once answered (an event stream: once it ends). */
  slot: { release?: () => Promise<void>; handedOver: boolean };
}

export async function serveNativeRequest<Args extends ProxyFeedArgs>(
  args: Args,
  respond: (request: NativeRequest<Args>) => Promise<FeedReply>,
): Promise<FeedReply> {
  const incoming = new URLSearchParams(args.query);
  const origin = args.origin ?? "*";
  const offsetText = incoming.get(OFFSET_PARAM);
  if (offsetText === null) return invalid(origin, OFFSET_PARAM, "can't be blank");
  const offset = parseOffset(offsetText);
  if (!offset) return invalid(origin, OFFSET_PARAM, "has invalid format");
  const live = incoming.has(LIVE_PARAM) && incoming.get(LIVE_PARAM) !== "false";
  if (live && offset.kind === "before_all") return invalid(origin, LIVE_PARAM, "can't be true when offset == -1");
  if (live && offset.kind === "now") return invalid(origin, LIVE_PARAM, "can't be true when offset is 'now'");
  const handle = incoming.get(HANDLE_PARAM) || incoming.get("shape_id") || undefined;
  if (offset.kind === "at" && !handle) return invalid(origin, HANDLE_PARAM, "can't be blank when offset != -1");

  // A live request holds a limiter slot from before it is looked at, as on the shape path (#37).
  const slot: NativeRequest["slot"] = { handedOver: false };
  if (live) {
    // A long-poll may be admitted without waiting for Redis (050); an event stream waits for the answer.
    const admission = await admitLive(args.services, args.authentication, origin, {
      optimistic: !wantsEventStream(incoming),
    });
    if ("reply" in admission) return admission.reply;
    slot.release = admission.release;
  }
  try {
    return await respond({ args, incoming, origin, offset, live, handle, slot });
  } catch (error) {
    args.services.logger.warn({ err: (error as Error).message }, "native realtime feed failed");
    return jsonReply(503, { error: "Realtime service unavailable, retry later" }, origin, {
      "retry-after": "1",
      "cache-control": "no-store",
    });
  } finally {
    if (!slot.handedOver) void slot.release?.();
  }
}

/**
 * A live answer: an event stream (`live_sse`), or a long-poll answered as soon as a step finds
 * changes, looking again at every signal and every backstop, "nothing new" once held `holdMs`.
 * `listener` hears the feed's `channel`, listened to from before the first read (the caller closes
 * it); an event stream listens on its own until it ends.
 */
export async function answerLive(
  request: NativeRequest,
  live: { handle: string; offset: OffsetAt; channel: string; listener: SignalListener; step: FeedStep },
): Promise<FeedReply> {
  const { args, incoming, origin } = request;
  const { services, authentication } = args;
  const backstopMs = services.realtime.native.livePollTimeoutMs;
  const holdMs = Math.max(LIVE_HOLD_MS, backstopMs);
  const cursor = nextCursor(incoming.get("cursor"), holdMs, Date.now());
  if (wantsEventStream(incoming)) {
    request.slot.handedOver = true;
    const release = request.slot.release;
    return nativeEventStream({
      origin,
      handle: live.handle,
      offset: live.offset,
      cursor,
      listener: await services.realtime.native.deps.signals.listen([live.channel]),
      step: live.step,
      done: () => release?.(),
      endAt: authentication.type === "PUBLIC_JWT" ? authentication.exp * 1000 : undefined,
      watch: credentialWatch(services.realtime.streamChecks, args.credential?.()),
      backstopMs,
      onError: (error) => services.logger.warn({ err: error.message }, "native realtime event stream failed"),
    });
  }
  const reply = (changes: Awaited<ReturnType<FeedStep>>) =>
    answer({
      origin,
      handle: live.handle,
      offset: changes?.offset ?? live.offset,
      messages: changes?.messages ?? [],
      upToDate: true,
      cursor,
    });
  const deadline = performance.now() + holdMs;
  for (;;) {
    const changes = await live.step();
    if (changes) return reply(changes);
    const left = deadline - performance.now();
    if (left <= 0) return reply(undefined);
    const outcome = await live.listener.next(Math.min(left, backstopMs), args.signal);
    if (outcome === "aborted") return jsonReply(499, null, origin);
  }
}
