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
import { type OffsetAt, TRIGGER_API_VERSION, formatOffset, runColumnsWithout } from "@runfeed/core";
import type { FeedReply } from "../feedReply.server";
import type { ProxyFeedArgs } from "../shapeProxy.server";
import { createdAtFloor, skipColumnsFor } from "../shapeRewrite.server";
import { type Diff, diffRows, hasChanges, runOffset, runWorkingSet, type WorkingSet } from "./feedState.server";
import { feedSource } from "./feedSource.server";
import { answer, changeMessages, type MessageOptions, mustRefetch } from "./nativeReply.server";
import { answerLive, type FeedStep, type NativeRequest, serveNativeRequest } from "./nativeRequest.server";

type RowFeedArgs = ProxyFeedArgs & { feed: Exclude<ProxyFeedArgs["feed"], { kind: "logs" }> };

export { LIVE_HOLD_MS } from "./nativeRequest.server";

export function serveNativeFeed(args: RowFeedArgs): Promise<FeedReply> {
  return serveNativeRequest(args, respond);
}

async function respond(request: NativeRequest<RowFeedArgs>): Promise<FeedReply> {
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
    const step: FeedStep = async () => {
      const diff = diffRows(previous, await source.read());
      if (!hasChanges(diff)) return undefined;
      previous = diff.next;
      return { offset: advance(diff), messages: changeMessages(diff, options) };
    };
    if (live) return await answerLive(request, { handle: handle!, offset, channel: source.channel, listener, step });
    const [changes, schema] = await Promise.all([step(), native.rows.schema(columns)]);
    return answer({
      origin,
      handle: handle!,
      offset: changes?.offset ?? offset,
      messages: changes?.messages ?? [],
      upToDate: true,
      schema,
    });
  } finally {
    listener.close();
  }
}
