/**
 * The native realtime backend (docs/decisions/073-realtime-notifier-backend.md): the three run feeds
 * answered from Postgres and Redis signals, with no shape server, in the shape protocol's wire format.
 *
 * - `offset=-1` (or `now`): a new handle and the feed's rows as inserts (`now`: none, up to date).
 * - A request continuing a handle: the rows now, diffed against the client's working set
 *   (feedState.server.ts); a handle that cannot be resumed is a 409 must-refetch.
 * - A live one with nothing new waits on the feed's signal channel, or the backstop
 *   REALTIME_NOTIFIER_LIVE_POLL_TIMEOUT_MS, then looks again; it answers as soon as the rows moved,
 *   and "nothing new" only after LIVE_HOLD_MS, and holds a limiter slot meanwhile.
 *
 * Authentication, scopes and the route's lookups ran before (feedRoute.server.ts), as for the proxy.
 */
import {
  HANDLE_PARAM,
  LIVE_PARAM,
  OFFSET_PARAM,
  type LogOffset,
  type OffsetAt,
  TRIGGER_API_VERSION,
  formatOffset,
  nextCursor,
  parseOffset,
  runColumnsWithout,
  type ShapeSchema,
} from "@runfeed/core";
import type { ClientSignal } from "../clientSignal.server";
import { jsonReply, type FeedReply } from "../feedReply.server";
import { admitLive } from "../liveAdmission.server";
import { credentialWatch } from "../streamCredentialChecks.server";
import { type ProxyFeedArgs, wantsEventStream } from "../shapeProxy.server";
import { createdAtFloor, skipColumnsFor } from "../shapeRewrite.server";
import { type Diff, diffRows, hasChanges, runOffset, runWorkingSet, type WorkingSet } from "./feedState.server";
import { feedSource, type FeedSource } from "./feedSource.server";
import { answer, changeMessages, invalid, type MessageOptions, mustRefetch } from "./nativeReply.server";
import type { RunRow } from "./runRows.server";
import { nativeEventStream } from "./nativeSse.server";
import type { SignalListener } from "./runSignals.server";

type RowFeedArgs = ProxyFeedArgs & { feed: Exclude<ProxyFeedArgs["feed"], { kind: "logs" }> };

/**
 * How long a live request with nothing new is held before it answers "nothing new": as long as the
 * shape server holds one (its default long-poll timeout), so an idle subscriber costs a round trip
 * (authentication, limiter, subscription, the client's own work) every 20 s on either backend rather
 * than at every backstop. Never shorter than the backstop.
 */
export const LIVE_HOLD_MS = 20_000;

/** A validated request: what every step below needs. */
interface Request {
  args: RowFeedArgs;
  incoming: URLSearchParams;
  origin: string;
  offset: LogOffset;
  live: boolean;
  handle: string | undefined;
  /** The limiter slot of a live request: released once answered (an event stream: once it ends). */
  slot: { release?: () => Promise<void>; handedOver: boolean };
}

export async function serveNativeFeed(args: RowFeedArgs): Promise<FeedReply> {
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
  const slot: Request["slot"] = { handedOver: false };
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

async function respond(request: Request): Promise<FeedReply> {
  const { args, incoming, origin, offset, live, handle } = request;
  const { services, authentication, feed } = args;
  const native = services.realtime.native;
  const columns = runColumnsWithout(
    skipColumnsFor({
      incoming,
      claimSkipColumns: authentication.type === "PUBLIC_JWT" ? authentication.realtime?.skipColumns : undefined,
    }),
  );
  const options: MessageOptions = { columns, legacyStatus: args.apiVersion !== TRIGGER_API_VERSION };
  const state = offset.kind === "at" && feed.kind !== "run" ? native.states.get(handle!) : undefined;
  const floor =
    feed.kind !== "tags"
      ? undefined
      : offset.kind !== "at"
        ? createdAtFloor(args.createdAt, Date.now(), services.env.REALTIME_MAXIMUM_CREATED_AT_FILTER_AGE_IN_MS)
        : state?.floor;
  const source = feedSource(native.deps, authentication.environment.id, feed, columns, floor);
  // Listening while it reads makes the shared resolution usable (runSetCache.server.ts).
  const listener = await native.deps.signals.listen([source.channel]);
  try {
    if (offset.kind !== "at") {
      const [rows, schema] = await Promise.all([source.read(), native.rows.schema(columns)]);
      const diff = diffRows(undefined, rows);
      let started: { handle: string; offset: OffsetAt };
      if (feed.kind === "run") {
        started = { handle: source.digest, offset: runOffset(diff.next, feed.runId, undefined) };
      } else {
        const created = native.states.create(source.digest, floor);
        started = { handle: created.handle, offset: native.states.advance(created.state, diff.next) };
      }
      const now = offset.kind === "now";
      return answer({ origin, ...started, messages: now ? [] : changeMessages(diff, options), upToDate: now, schema });
    }

    // Continuing a handle: the client's working set, or a 409.
    let previous: WorkingSet | undefined;
    if (feed.kind === "run") {
      if (handle !== source.digest) return mustRefetch(origin, source.digest);
      previous = runWorkingSet(feed.runId, offset);
    } else {
      previous = state && state.digest === source.digest ? state.sets.get(formatOffset(offset)) : undefined;
      if (!previous) return mustRefetch(origin, `${source.digest}-refetch${Date.now().toString(36)}`);
    }
    // The client's new working set after a change, at an offset past the last.
    let last: OffsetAt = offset;
    const advance = (diff: Diff): OffsetAt => {
      last = feed.kind === "run" ? runOffset(diff.next, feed.runId, last) : native.states.advance(state!, diff.next);
      return last;
    };
    const holdMs = Math.max(LIVE_HOLD_MS, native.livePollTimeoutMs);
    const cursor = live ? nextCursor(incoming.get("cursor"), holdMs, Date.now()) : undefined;
    const reply = (rows: RunRow[] | undefined, schema?: ShapeSchema) => {
      const diff = rows ? diffRows(previous, rows) : undefined;
      const changed = diff !== undefined && hasChanges(diff);
      return answer({
        origin,
        handle: handle!,
        offset: changed ? advance(diff) : offset,
        messages: changed ? changeMessages(diff, options) : [],
        upToDate: true,
        cursor,
        schema,
      });
    };
    if (!live) {
      const [rows, schema] = await Promise.all([source.read(), native.rows.schema(columns)]);
      return reply(rows, schema);
    }
    if (wantsEventStream(incoming)) {
      request.slot.handedOver = true;
      const release = request.slot.release;
      return nativeEventStream({
        origin,
        handle: handle!,
        offset,
        cursor: cursor!,
        source,
        previous,
        listener: await native.deps.signals.listen([source.channel]),
        advance,
        messagesOf: (diff) => changeMessages(diff, options),
        done: () => release?.(),
        endAt: authentication.type === "PUBLIC_JWT" ? authentication.exp * 1000 : undefined,
        watch: credentialWatch(services.realtime.streamChecks, args.credential?.()),
        backstopMs: native.livePollTimeoutMs,
        onError: (error) => services.logger.warn({ err: error.message }, "native realtime event stream failed"),
      });
    }
    const wait = { backstopMs: native.livePollTimeoutMs, holdMs };
    return await longPoll(args.signal, wait, source, previous, listener, origin, reply);
  } finally {
    listener.close();
  }
}

/**
 * A live long-poll: answers as soon as the rows differ from the client's. It looks again at every
 * signal and at every backstop, and answers "nothing new" once held `holdMs`.
 */
async function longPoll(
  signal: ClientSignal,
  wait: { backstopMs: number; holdMs: number },
  source: FeedSource,
  previous: WorkingSet,
  listener: SignalListener,
  origin: string,
  reply: (rows: RunRow[] | undefined) => FeedReply,
): Promise<FeedReply> {
  const deadline = performance.now() + wait.holdMs;
  for (;;) {
    const rows = await source.read();
    if (hasChanges(diffRows(previous, rows))) return reply(rows);
    const left = deadline - performance.now();
    if (left <= 0) return reply(undefined);
    const outcome = await listener.next(Math.min(left, wait.backstopMs), signal);
    if (outcome === "aborted") return jsonReply(499, null, origin);
  }
}
