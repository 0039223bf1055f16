/**
 * A run's log feed on the native backend (docs/decisions/090-run-logs.md, 073): the run's TaskRunLog
 * rows in the shape protocol's wire format, with no shape server.
 *
 * The table is append-only, so a client's state is one number: the commit horizon it has read up to
 * (runRows.server.ts, `logsAfter`). It is the offset (`<horizon>_0`), and the handle is the digest of
 * the feed's definition (environment, run): a handle resumes on any instance and across restarts,
 * rebuilt from Postgres; a handle of another definition is a 409 must-refetch.
 *
 * - `offset=-1`: every final row as inserts, in commit order (`now`: none, up to date).
 * - Continuing: the rows from the offset's horizon on; new rows move the offset to the new horizon.
 * - Lines committed past the horizon (an older write transaction still open) are final once it ends,
 *   which no signal announces: a step looks again shortly, a few times, before waiting.
 * - Live: waits on the run's log channel (RunSignals.logsChannel, published after every commit of log
 *   lines) or the backstop, as the run feeds do (nativeRequest.server.ts).
 *
 * The route drops the client's table, where and columns (every log column is streamed), as on the
 * shape path.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { type OffsetAt, offsetAt } from "@runfeed/core";
import type { FeedReply } from "../feedReply.server";
import type { ProxyFeedArgs } from "../shapeProxy.server";
import { definitionDigest } from "./feedState.server";
import { answer, logMessages, mustRefetch } from "./nativeReply.server";
import { answerLive, type FeedStep, type NativeRequest, serveNativeRequest } from "./nativeRequest.server";

/** The longest pause while committed lines wait for older transactions to end. */
const PENDING_PAUSE_MAX_MS = 1_000;

type LogFeedArgs = ProxyFeedArgs & { feed: Extract<ProxyFeedArgs["feed"], { kind: "logs" }> };

export function serveNativeLogFeed(args: LogFeedArgs): Promise<FeedReply> {
  return serveNativeRequest(args, respond);
}

async function respond(request: NativeRequest<LogFeedArgs>): Promise<FeedReply> {
  const { args, origin, offset, live, handle } = request;
  const { services, authentication, feed } = args;
  const native = services.realtime.native;
  const environmentId = authentication.environment.id;
  const digest = definitionDigest(["logs", environmentId, feed.runId]);
  if (offset.kind === "at" && handle !== digest) return mustRefetch(origin, digest);
  const channel = native.deps.signals.logsChannel(feed.runId);
  // Listening before reading: a line committed after the read still wakes a live request.
  const listener = await native.deps.signals.listen([channel]);
  try {
    let from = offset.kind === "at" ? offset.tx : 0n;
    const step: FeedStep = async () => {
      // Lines committed but not final yet (an older write transaction still open) are looked for again
      // shortly, with no signal to come: 10 ms, doubling, about 1.3 s in all; then the backstop's turn.
      for (let pause = 10; ; pause *= 2) {
        const read = await native.rows.logsAfter(environmentId, feed.runId, from);
        if (read.rows.length > 0) {
          from = read.horizon;
          return { offset: offsetAt(read.horizon, 0), messages: logMessages(read.rows) };
        }
        if (!read.pending || pause > PENDING_PAUSE_MAX_MS || args.signal.aborted) return undefined;
        await sleep(pause);
      }
    };
    if (offset.kind !== "at") {
      const [read, schema] = await Promise.all([
        native.rows.logsAfter(environmentId, feed.runId, 0n),
        native.rows.logSchema(),
      ]);
      const now = offset.kind === "now";
      return answer({
        origin,
        handle: digest,
        offset: offsetAt(read.horizon, 0),
        messages: now ? [] : logMessages(read.rows),
        upToDate: now,
        schema,
      });
    }
    const at: OffsetAt = offset;
    if (live) return await answerLive(request, { handle: digest, offset: at, channel, listener, step });
    const [changes, schema] = await Promise.all([step(), native.rows.logSchema()]);
    return answer({
      origin,
      handle: digest,
      offset: changes?.offset ?? at,
      messages: changes?.messages ?? [],
      upToDate: true,
      schema,
    });
  } finally {
    listener.close();
  }
}
