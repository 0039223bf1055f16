/**
 * The native feed's answers in the shape protocol's wire format (docs/protocol/electric.md §2–§4),
 * byte for byte what a client of the shape path sees where it can tell: the same headers per request
 * kind, change messages keyed like the shape server's, `up-to-date` with `global_last_seen_lsn`, and
 * the 409 must-refetch array.
 */
import {
  ELECTRIC_CURSOR_HEADER,
  ELECTRIC_EXPOSED_HEADERS,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_HAS_DATA_HEADER,
  ELECTRIC_OFFSET_HEADER,
  ELECTRIC_SCHEMA_HEADER,
  ELECTRIC_UP_TO_DATE_HEADER,
  MUST_REFETCH_BODY,
  type OffsetAt,
  type ShapeMessage,
  type ShapeSchema,
  formatOffset,
  relationKeyPrefix,
  rowKey,
  upToDateMessage,
} from "@runfeed/core";
import type { FeedReply } from "../feedReply.server";
import type { Diff } from "./feedState.server";
import type { RunRow } from "./runRows.server";

const EXPOSE = ELECTRIC_EXPOSED_HEADERS.join(", ");
const RELATION: [string, string] = ["public", "TaskRun"];
const KEY_PREFIX = relationKeyPrefix(...RELATION);

export const runKey = (id: string) => rowKey(KEY_PREFIX, [id]);

export interface MessageOptions {
  /** The columns the client asked for (skipColumns applied). */
  columns: readonly string[];
  /** Clients without the current API version never see DEQUEUED (checklist #19). */
  legacyStatus: boolean;
}

function project(row: RunRow, options: MessageOptions): RunRow {
  const value: RunRow = {};
  for (const column of options.columns) value[column] = row[column] ?? null;
  if (options.legacyStatus && value.status === "DEQUEUED") value.status = "EXECUTING";
  return value;
}

/** The diff as change messages: inserts and updates carry the whole (projected) row, deletes the key. */
export function changeMessages(diff: Diff, options: MessageOptions): ShapeMessage[] {
  const messages: ShapeMessage[] = [];
  const change = (row: RunRow, operation: "insert" | "update") =>
    messages.push({ key: runKey(row.id!), value: project(row, options), headers: { operation, relation: RELATION } });
  for (const row of diff.inserts) change(row, "insert");
  for (const row of diff.updates) change(row, "update");
  for (const id of diff.deletes)
    messages.push({ key: runKey(id), value: { id }, headers: { operation: "delete", relation: RELATION } });
  return messages;
}

const LOG_RELATION: [string, string] = ["public", "TaskRunLog"];
const LOG_KEY_PREFIX = relationKeyPrefix(...LOG_RELATION);

/** A run's new log rows as inserts (the table is append-only: nothing else ever happens to a row). */
export function logMessages(rows: readonly RunRow[]): ShapeMessage[] {
  return rows.map((row) => ({
    key: rowKey(LOG_KEY_PREFIX, [row.id!]),
    value: row,
    headers: { operation: "insert", relation: LOG_RELATION },
  }));
}

export interface AnswerArgs {
  origin: string;
  handle: string;
  offset: OffsetAt;
  messages: ShapeMessage[];
  /** Ends with up-to-date (every answer but the first). */
  upToDate: boolean;
  /** Live requests get a cursor, the others the schema. */
  cursor?: string;
  schema?: ShapeSchema;
}

export function corsHeaders(origin: string): string[] {
  const headers = ["access-control-allow-origin", origin, "access-control-expose-headers", EXPOSE];
  if (origin !== "*") headers.push("vary", "Origin");
  headers.push("cache-control", "no-store");
  return headers;
}

export function answer(args: AnswerArgs): FeedReply {
  const offset = formatOffset(args.offset);
  const messages = args.upToDate ? [...args.messages, upToDateMessage(String(args.offset.tx))] : args.messages;
  const headers = corsHeaders(args.origin);
  headers.push("content-type", "application/json", ELECTRIC_HANDLE_HEADER, args.handle, ELECTRIC_OFFSET_HEADER, offset);
  if (args.schema) headers.push(ELECTRIC_SCHEMA_HEADER, JSON.stringify(args.schema));
  if (args.cursor !== undefined) headers.push(ELECTRIC_CURSOR_HEADER, args.cursor);
  if (args.upToDate) headers.push(ELECTRIC_UP_TO_DATE_HEADER, "");
  headers.push(ELECTRIC_HAS_DATA_HEADER, args.messages.length > 0 ? "true" : "false");
  return { status: 200, headers, body: Buffer.from(JSON.stringify(messages)) };
}

export function mustRefetch(origin: string, handle: string): FeedReply {
  const headers = corsHeaders(origin);
  headers.push("content-type", "application/json", ELECTRIC_HANDLE_HEADER, handle);
  return { status: 409, headers, body: Buffer.from(JSON.stringify(MUST_REFETCH_BODY)) };
}

/** A 400 in the shape server's form: `{"message":"Invalid request","errors":{field:[…]}}`. */
export function invalid(origin: string, field: string, message: string): FeedReply {
  const headers = corsHeaders(origin);
  headers.push("content-type", "application/json");
  return {
    status: 400,
    headers,
    body: Buffer.from(JSON.stringify({ message: "Invalid request", errors: { [field]: [message] } })),
  };
}
