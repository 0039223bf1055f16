/**
 * Pure rewrite of a realtime feed request into an upstream Electric `GET /v1/shape` URL
 * (realtime-contract §3.1–3.3, checklist #5, #26–#28). No I/O, no env: the caller passes the
 * origin, the environment id, the feed and the createdAt floor.
 *
 * Only the Electric protocol parameters are copied from the client. `table`, `where`, `params` and
 * `columns` are always ours; every value is a bound `params[n]`, never spliced into SQL text, so the
 * where text is a constant per feed kind and byte-identical for a handle's life.
 */
import {
  COLUMNS_PARAM,
  ELECTRIC_PROTOCOL_QUERY_PARAMS,
  HANDLE_PARAM,
  PARAMS_PARAM,
  RUN_LOGS_TABLE,
  RUN_LOG_STREAM_COLUMNS,
  RUNS_TABLE,
  SECRET_PARAM,
  SUBSET_PARAM_PREFIX,
  TABLE_PARAM,
  WHERE_PARAM,
  quoteColumns,
  runColumnsWithout,
} from "@runfeed/core";

export type RealtimeFeed =
  | { kind: "run"; runId: string }
  | { kind: "batch"; batchId: string }
  | { kind: "tags"; tags: string[] }
  /** A run's log lines and events (TaskRunLog; docs/decisions/090-run-logs.md). */
  | { kind: "logs"; runId: string };

/** What the rewrite reads of the client's query: the first value of a name, or null (as URLSearchParams). */
export interface QueryParams {
  get(name: string): string | null;
}

export interface ShapeRequest {
  /** `ELECTRIC_ORIGIN`, e.g. `http://127.0.0.1:3060` (a path prefix is kept). */
  origin: string;
  /** The client's query (protocol params are picked from it, everything else dropped). */
  incoming: QueryParams;
  environmentId: string;
  feed: RealtimeFeed;
  /** JWT `realtime.skipColumns` claim; when present it replaces the URL `skipColumns` entirely. */
  claimSkipColumns?: string[];
  /** Tag feed only: the createdAt floor (absent = no floor clause). */
  createdAtFloor?: Date;
  /** ELECTRIC_SECRET, sent as `secret` (a client-supplied `secret` is never forwarded). */
  secret?: string;
}

export const WHERE_RUN = `"runtimeEnvironmentId" = $1 AND "id" = $2`;
export const WHERE_BATCH = `"runtimeEnvironmentId" = $1 AND "batchId" = $2`;
export const WHERE_RUN_LOGS = `"runtimeEnvironmentId" = $1 AND "runId" = $2`;

/** The where text and its bound values for a feed. */
export function feedWhere(
  environmentId: string,
  feed: RealtimeFeed,
  createdAtFloor?: Date,
): { where: string; params: string[] } {
  switch (feed.kind) {
    case "run":
      return { where: WHERE_RUN, params: [environmentId, feed.runId] };
    case "batch":
      return { where: WHERE_BATCH, params: [environmentId, feed.batchId] };
    case "logs":
      return { where: WHERE_RUN_LOGS, params: [environmentId, feed.runId] };
    case "tags": {
      const clauses = [`"runtimeEnvironmentId" = $1`];
      const params = [environmentId];
      if (feed.tags.length > 0) {
        params.push(postgresTextArray(feed.tags));
        clauses.push(`"runTags" @> $${params.length}::text[]`);
      }
      if (createdAtFloor) {
        params.push(timestampParam(createdAtFloor));
        clauses.push(`"createdAt" > $${params.length}::timestamp`);
      }
      return { where: clauses.join(" AND "), params };
    }
  }
}

/**
 * The protocol parameters forwarded upstream: the long-poll/SSE ones. Subset snapshot parameters
 * (`subset__where`, `subset__params`, …) are not: they would let a client filter the token's rows on
 * columns it cannot see (e.g. `oneTimeUseToken LIKE 'a%'` as an oracle). No 4.x SDK sends them.
 */
export const FORWARDED_PROTOCOL_PARAMS: readonly string[] = ELECTRIC_PROTOCOL_QUERY_PARAMS.filter(
  (name) => !name.startsWith(SUBSET_PARAM_PREFIX),
);

/** The columns list with nothing skipped (most requests): built once. */
const ALL_RUN_COLUMNS = quoteColumns(runColumnsWithout([]));

export function buildShapeUrl(request: ShapeRequest): URL {
  return new URL(`${request.origin.replace(/\/+$/, "")}${shapePath(request)}`);
}

/**
 * The upstream request's path and query (`/v1/shape?…`, the origin's own path prefix not included),
 * built as a string. The client's protocol parameters (few, short), then the feed's own part, which is
 * the same for every request of a feed and token and is encoded once (shapeTail): encoding the columns
 * list and the where text on every re-poll was the largest cost of building it (bench/realtime profile).
 */
export function shapePath(request: Omit<ShapeRequest, "origin">): string {
  let head = "";
  for (const name of FORWARDED_PROTOCOL_PARAMS) {
    const value = request.incoming.get(name);
    if (value !== null) head += `${encodeQueryPart(name)}=${encodeQueryPart(value)}&`;
  }
  return `/v1/shape?${head}${shapeTail(request)}`;
}

/** Protocol values are mostly offsets, handles and flags: left as they are when nothing needs escaping. */
const PLAIN = /^[\w.~-]*$/;
const encodeQueryPart = (text: string) => (PLAIN.test(text) ? text : encodeURIComponent(text));

/**
 * A query string as QueryParams, without URLSearchParams (which re-encodes and keeps every pair): the
 * first value of each name, `+` and percent escapes decoded as a form query is. A malformed escape
 * is kept as it was written (URLSearchParams does likewise).
 */
export function parseQuery(query: string): QueryParams {
  const values = new Map<string, string>();
  if (query.length > 0) {
    for (const pair of query.split("&")) {
      if (pair.length === 0) continue;
      const eq = pair.indexOf("=");
      const name = decodeQueryPart(eq === -1 ? pair : pair.slice(0, eq));
      if (!values.has(name)) values.set(name, eq === -1 ? "" : decodeQueryPart(pair.slice(eq + 1)));
    }
  }
  return { get: (name) => values.get(name) ?? null };
}

function decodeQueryPart(text: string): string {
  if (!text.includes("%") && !text.includes("+")) return text;
  const spaced = text.replaceAll("+", " ");
  try {
    return decodeURIComponent(spaced);
  } catch {
    return new URLSearchParams(`x=${text}`).get("x") ?? spaced;
  }
}

/** Encoded feed parts by what makes them (bounded: cleared when full, rebuilt on demand). */
const tails = new Map<string, string>();
const MAX_TAILS = 10_000;

/** table, where, params, columns and secret, encoded as a query string. */
function shapeTail(request: Omit<ShapeRequest, "origin">): string {
  const logs = request.feed.kind === "logs";
  // A log feed always streams every log column: `skipColumns` names run columns.
  const skip = logs ? [] : skipColumnsFor(request);
  const key = JSON.stringify([
    request.environmentId,
    request.feed,
    skip,
    request.createdAtFloor?.getTime(),
    request.secret,
  ]);
  const known = tails.get(key);
  if (known !== undefined) return known;
  const search = new URLSearchParams();
  const { where, params } = feedWhere(request.environmentId, request.feed, request.createdAtFloor);
  search.set(TABLE_PARAM, logs ? RUN_LOGS_TABLE : RUNS_TABLE);
  search.set(WHERE_PARAM, where);
  params.forEach((value, index) => search.set(`${PARAMS_PARAM}[${index + 1}]`, value));
  const columns = logs
    ? quoteColumns([...RUN_LOG_STREAM_COLUMNS])
    : skip.length === 0
      ? ALL_RUN_COLUMNS
      : quoteColumns(runColumnsWithout(skip));
  search.set(COLUMNS_PARAM, columns);
  if (request.secret) search.set(SECRET_PARAM, request.secret);
  const tail = search.toString();
  if (tails.size >= MAX_TAILS) tails.clear();
  tails.set(key, tail);
  return tail;
}

export function skipColumnsFor(request: Pick<ShapeRequest, "incoming" | "claimSkipColumns">): string[] {
  if (request.claimSkipColumns) return request.claimSkipColumns;
  const listed = request.incoming.get("skipColumns");
  if (!listed) return [];
  return listed
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export const hasHandle = (incoming: QueryParams) => Boolean(incoming.get(HANDLE_PARAM) || incoming.get("shape_id"));

// --- tags (#26)

/** Control characters, backslash and double quote (UNSAFE_REALTIME_TAG_CHARS upstream). */
export const UNSAFE_TAG_CHARS = /[\x00-\x1f\x7f\\"]/;

/** Splits `tags=a,b`; returns an error message for an empty or unsafe tag. */
export function parseTags(raw: string | undefined): { tags: string[] } | { error: string } {
  if (raw === undefined) return { tags: [] };
  const tags = raw.split(",");
  for (const tag of tags) {
    if (tag.length === 0) return { error: "Tags must not be empty" };
    if (UNSAFE_TAG_CHARS.test(tag))
      return { error: "Tags must not contain control characters, backslashes or double quotes" };
  }
  return { tags };
}

/** A Postgres array literal with every element double-quoted and `\`/`"` escaped: `{"a","b c"}`. */
export function postgresTextArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`;
}

/** `timestamp without time zone` literal in UTC, as the column stores it: `2026-06-06T10:00:00.123`. */
export function timestampParam(date: Date): string {
  return date.toISOString().replace(/Z$/, "");
}

// --- createdAt (checklist #26, §3.3)

const DURATION_RE = /^(\d+(?:w|d|hr|h|m|s))+$/;
const DURATION_PART_RE = /(\d+)(w|d|hr|h|m|s)/g;
const UNIT_MS: Record<string, number> = {
  w: 604_800_000,
  d: 86_400_000,
  hr: 3_600_000,
  h: 3_600_000,
  m: 60_000,
  s: 1000,
};

/** Parses `1h`, `30m`, `1d12h`…; undefined when the text does not match the grammar. */
export function parseDurationMs(text: string): number | undefined {
  if (text.length > 100 || !DURATION_RE.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART_RE)) total += Number(amount) * UNIT_MS[unit!]!;
  return total;
}

/**
 * The createdAt floor of a new tag-feed shape: now − parse(createdAt ?? "24h"), never older than
 * now − maxAgeMs. An unparsable value is clamped to the oldest floor (the native path's behaviour,
 * so that a typo never means "no floor at all").
 */
export function createdAtFloor(createdAt: string | undefined, now: number, maxAgeMs: number): Date {
  const ago = parseDurationMs(createdAt ?? "24h") ?? maxAgeMs;
  return new Date(now - Math.min(ago, maxAgeMs));
}
