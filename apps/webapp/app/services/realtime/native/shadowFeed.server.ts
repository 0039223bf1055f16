/**
 * Shadow mode (docs/decisions/073-realtime-notifier-backend.md): the shape server answers the client;
 * on a sample of initial requests (REALTIME_SHADOW_SAMPLE_RATE) the native backend answers the same
 * request too, and every row on which the two disagree is counted
 * (`runfeed_realtime_shadow_differences_total`) and logged: a differential check run on live traffic.
 *
 * A row whose `updatedAt` differs between the two answers changed in between (the answers are read
 * moments apart) and is not counted. Booleans are compared by meaning (`t` and `true` are one value:
 * replicated and snapshot rows spell them differently, docs/protocol/electric.md §9.3).
 */
import { INITIAL_OFFSET, LIVE_PARAM, OFFSET_PARAM } from "@runfeed/core";
import type { Readable } from "node:stream";
import type { FeedReply } from "../feedReply.server";
import { type ProxyFeedArgs, proxyRealtimeFeed } from "../shapeProxy.server";
import { serveNativeFeed } from "./nativeFeed.server";

type RowFeedArgs = ProxyFeedArgs & { feed: Exclude<ProxyFeedArgs["feed"], { kind: "logs" }> };
type Rows = Map<string, Record<string, string | null>>;

export async function serveShadowFeed(args: RowFeedArgs): Promise<FeedReply> {
  const reply = await proxyRealtimeFeed(args);
  const incoming = new URLSearchParams(args.query);
  const sampled =
    reply.status === 200 &&
    incoming.get(OFFSET_PARAM) === INITIAL_OFFSET &&
    incoming.get(LIVE_PARAM) !== "true" &&
    Math.random() < args.services.env.REALTIME_SHADOW_SAMPLE_RATE;
  if (!sampled || reply.body === null) return reply;
  const body = Buffer.isBuffer(reply.body) ? reply.body : await readAll(reply.body);
  try {
    const native = await serveNativeFeed(args);
    if (native.status === 200 && Buffer.isBuffer(native.body)) {
      compare(args, rowsOf(body), rowsOf(native.body));
    }
  } catch (error) {
    args.services.logger.warn({ err: (error as Error).message }, "realtime shadow comparison failed");
  }
  return { ...reply, body };
}

function compare(args: RowFeedArgs, electric: Rows, native: Rows): void {
  const { metrics, logger } = args.services;
  const feed = args.feed.kind;
  metrics.realtimeShadowComparisons.inc({ feed });
  const differing: string[] = [];
  for (const key of new Set([...electric.keys(), ...native.keys()])) {
    const a = electric.get(key);
    const b = native.get(key);
    if (a && b && a.updatedAt !== b.updatedAt) continue; // changed between the two reads
    if (!a || !b || !sameRow(a, b)) differing.push(key);
  }
  if (differing.length === 0) return;
  metrics.realtimeShadowDifferences.inc({ feed }, differing.length);
  logger.warn(
    {
      feed,
      environmentId: args.authentication.environment.id,
      differing: differing.slice(0, 10),
      count: differing.length,
    },
    "realtime shadow difference: the native backend's answer differs from the shape server's",
  );
}

const BOOLEAN: Record<string, string> = { t: "true", f: "false" };

function sameRow(a: Record<string, string | null>, b: Record<string, string | null>): boolean {
  const columns = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const column of columns) {
    const x = a[column] ?? null;
    const y = b[column] ?? null;
    if (x === y) continue;
    if (x === null || y === null || (BOOLEAN[x] ?? x) !== (BOOLEAN[y] ?? y)) return false;
  }
  return true;
}

function rowsOf(body: Buffer): Rows {
  const rows: Rows = new Map();
  const messages = JSON.parse(body.toString("utf8")) as Array<{ key?: string; value?: Record<string, string | null> }>;
  for (const message of messages) if (message.key && message.value) rows.set(message.key, message.value);
  return rows;
}

function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.once("end", () => resolve(Buffer.concat(chunks)));
    stream.once("error", reject);
  });
}
