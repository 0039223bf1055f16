/**
 * Realtime streams on the wire (the Trigger.dev v1 "server-stored" stream protocol): every path part,
 * header and SSE framing rule, named once. Shared by the webapp's stream routes and @runfeed/sdk.
 * Pure: no I/O. The storage and the end-of-stream rules are in docs/decisions/081-realtime-streams.md.
 *
 *   PUT  /realtime/v1/streams/:runId/:target/:key          create → {"version":"v1"}
 *   POST /realtime/v1/streams/:runId/:target/:key          NDJSON body, one chunk per line
 *   HEAD /realtime/v1/streams/:runId/:target/:key          x-last-chunk-index of x-client-id
 *   POST /realtime/v1/streams/:runId/:target/:key/append   one part (the body text)
 *   GET  /realtime/v1/streams/:runId/:key                  SSE, `id: <entry id>` / `data: <json>`
 *   POST /realtime/v1/streams/:runId/input/:key            {"data": …} into a running task
 *   GET  /realtime/v1/streams/:runId/input/:key            SSE of what was sent (the task's tail)
 */

export const REALTIME_STREAMS_PATH = "/realtime/v1/streams";
/** Which run a writer's URL addresses, relative to the run in the URL. */
export const STREAM_TARGETS = ["self", "parent", "root"] as const;
export type StreamTarget = (typeof STREAM_TARGETS)[number];
export const STREAM_APPEND_SEGMENT = "append";
export const INPUT_STREAM_SEGMENT = "input";
/** The only stream protocol runfeed serves: chunks stored by the server, read over SSE. */
export const STREAM_PROTOCOL_VERSION = "v1";

// --- Headers (lower case; HTTP header names are case-insensitive)
/** Writer identity; with it, chunk indexes make retried lines idempotent. */
export const STREAM_CLIENT_ID_HEADER = "x-client-id";
/** Index of the first line of this request's body in the writer's numbering. */
export const STREAM_RESUME_FROM_CHUNK_HEADER = "x-resume-from-chunk";
/** HEAD answer: the highest chunk index stored for the writer's client id, -1 for none. */
export const STREAM_LAST_CHUNK_INDEX_HEADER = "x-last-chunk-index";
export const STREAM_VERSION_HEADER = "x-stream-version";
/** Reader start without a Last-Event-ID: `latest` = only chunks appended after connecting. */
export const STREAM_START_HEADER = "x-trigger-stream-start";
export const STREAM_START_LATEST = "latest";
/** Reader option: close after this many seconds without a chunk (1–600). */
export const STREAM_TIMEOUT_SECONDS_HEADER = "timeout-seconds";
export const LAST_EVENT_ID_HEADER = "last-event-id";
export const EVENT_STREAM_CONTENT_TYPE = "text/event-stream";
/** Stream keys starting with this are the run's input streams (`POST …/input/:key`). */
export const INPUT_STREAM_KEY_PREFIX = "$trigger.input:";

/** Scope type that lets a token write a run's output streams: `write:streams:<runFriendlyId>`. */
export const STREAM_WRITE_SCOPE_TYPE = "streams";
/** Scope type that lets a token send into a run's input streams (the SDK's own name). */
export const INPUT_STREAM_SCOPE_TYPE = "inputStreams";

/** Default key of `streams.pipe(source)` / `streams.read(runId)` without a key. */
export const DEFAULT_STREAM_KEY = "default";

/** A stream key: 1–256 characters, no control characters, no `/`; `$trigger.` is reserved. */
export function streamKeyProblem(key: string, options: { allowReserved?: boolean } = {}): string | undefined {
  if (key.length === 0 || key.length > 256) return "must be 1 to 256 characters";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f/]/.test(key)) return "must not contain control characters or '/'";
  if (!options.allowReserved && key.startsWith("$trigger.")) return "the '$trigger.' prefix is reserved";
  return undefined;
}

// --- Entry ids: Redis stream ids `<ms>-<seq>`, the SSE event ids and the resume points.
export interface StreamEntryId {
  ms: number;
  seq: number;
}

export const STREAM_START_ID: StreamEntryId = { ms: 0, seq: 0 };

const ENTRY_ID = /^(\d{1,15})-(\d{1,15})$/;

export function parseStreamEntryId(text: string): StreamEntryId | undefined {
  const m = ENTRY_ID.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]);
  const seq = Number(m[2]);
  return Number.isSafeInteger(ms) && Number.isSafeInteger(seq) ? { ms, seq } : undefined;
}

export const formatStreamEntryId = (id: StreamEntryId) => `${id.ms}-${id.seq}`;

export function compareStreamEntryIds(a: StreamEntryId, b: StreamEntryId): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.seq - b.seq;
}

/**
 * A reader's Last-Event-ID: an entry id resumes after that entry; a bare integer `n` is the SDK's
 * `startIndex - 1` and resumes after the first `n + 1` chunks.
 */
export type StreamResumePoint = { kind: "after"; id: StreamEntryId } | { kind: "skip"; chunks: number };

export function parseLastEventId(text: string): StreamResumePoint | undefined {
  const id = parseStreamEntryId(text.trim());
  if (id) return { kind: "after", id };
  if (/^\d{1,9}$/.test(text.trim())) return { kind: "skip", chunks: Number(text.trim()) + 1 };
  return undefined;
}

// --- SSE framing (data is one JSON text, which never holds a raw newline)
export const SSE_PING = ": ping\n\n";
export const sseEvent = (id: string, data: string) => `id: ${id}\ndata: ${data}\n\n`;
