/**
 * Live mode over server-sent events on the native backend (docs/protocol/electric.md §5.2,
 * docs/decisions/073-realtime-notifier-backend.md): one stream per client that, at every signal (or
 * backstop), reads what changed since the client's state (a run feed's diff, a log feed's new lines) and writes the changes as `data:` events
 * followed by an up-to-date carrying `global_last_seen_lsn` (the client resumes from `<lsn>_0`).
 * `: keep-alive` after 21 s of silence; the stream ends after 60 s, at the token's expiry, when its
 * credential is refused (re-checked as on the shape path), or when the client leaves, and holds its
 * limiter slot until then.
 */
import { PassThrough } from "node:stream";
import {
  ELECTRIC_CURSOR_HEADER,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_OFFSET_HEADER,
  type OffsetAt,
  SSE_KEEP_ALIVE,
  formatOffset,
  upToDateMessage,
} from "@runfeed/core";
import type { FeedReply } from "../feedReply.server";
import { corsHeaders } from "./nativeReply.server";
import type { SignalListener } from "./runSignals.server";
import type { FeedStep } from "./nativeRequest.server";

export const SSE_LIFETIME_MS = 60_000;
export const SSE_KEEP_ALIVE_MS = 21_000;

export interface NativeSseArgs {
  origin: string;
  handle: string;
  offset: OffsetAt;
  cursor: string;
  listener: SignalListener;
  /** Reads the feed; when it moved, records the client's new state and returns the changes (nativeFeed's FeedStep). */
  step: FeedStep;
  /** Releases the limiter slot (and the listener): called once, when the stream ends. */
  done(): Promise<void> | void;
  /** The token's expiry (epoch ms), for public tokens. */
  endAt?: number;
  /** Ends the stream once its credential is refused (streamCredentialChecks.server.ts). */
  watch?: FeedReply["watch"];
  backstopMs: number;
  onError(error: Error): void;
}

export function nativeEventStream(args: NativeSseArgs): FeedReply {
  const body = new PassThrough();
  const headers = corsHeaders(args.origin);
  headers.push(
    "content-type",
    "text/event-stream",
    "x-accel-buffering",
    "no",
    ELECTRIC_HANDLE_HEADER,
    args.handle,
    ELECTRIC_OFFSET_HEADER,
    formatOffset(args.offset),
    ELECTRIC_CURSOR_HEADER,
    args.cursor,
  );
  const stop = new AbortController();
  body.once("close", () => stop.abort());
  void pump(args, body, stop.signal);
  return { status: 200, headers, body, done: args.done, endAt: args.endAt, watch: args.watch };
}

async function pump(args: NativeSseArgs, body: PassThrough, stop: AbortSignal): Promise<void> {
  const endsAt = performance.now() + SSE_LIFETIME_MS;
  let lastWrite = performance.now();
  const write = (text: string) => {
    lastWrite = performance.now();
    body.write(text);
  };
  try {
    while (!stop.aborted && performance.now() < endsAt) {
      const changes = await args.step();
      if (stop.aborted) break;
      if (changes) {
        for (const message of changes.messages) write(`data: ${JSON.stringify(message)}\n\n`);
        write(`data: ${JSON.stringify(upToDateMessage(String(changes.offset.tx)))}\n\n`);
      }
      const wait = Math.min(endsAt, lastWrite + SSE_KEEP_ALIVE_MS) - performance.now();
      const outcome = await args.listener.next(Math.min(wait, args.backstopMs), stop);
      if (outcome === "aborted") break;
      if (outcome === "timeout" && performance.now() - lastWrite >= SSE_KEEP_ALIVE_MS) write(SSE_KEEP_ALIVE);
    }
  } catch (error) {
    args.onError(error as Error);
    body.destroy();
    return;
  } finally {
    args.listener.close();
  }
  body.end();
}
