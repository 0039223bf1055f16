/**
 * The Electric HTTP shape protocol as data: every header, query parameter and control value,
 * named once (../shared/docs/electric-protocol.md). Shared by apps/shape-sync (server),
 * apps/webapp (proxy) and packages/sdk (client). Pure: no I/O.
 */

// --- Response headers (§2)
export const ELECTRIC_HANDLE_HEADER = "electric-handle";
export const ELECTRIC_OFFSET_HEADER = "electric-offset";
export const ELECTRIC_SCHEMA_HEADER = "electric-schema";
export const ELECTRIC_CURSOR_HEADER = "electric-cursor";
export const ELECTRIC_UP_TO_DATE_HEADER = "electric-up-to-date";
export const ELECTRIC_HAS_DATA_HEADER = "electric-has-data";
export const ELECTRIC_SERVER_HEADER = "electric-server";
export const ELECTRIC_SNAPSHOT_HEADER = "electric-snapshot";
export const ELECTRIC_INTERNAL_KNOWN_ERROR_HEADER = "electric-internal-known-error";

/** Headers a browser must be allowed to read (access-control-expose-headers). */
export const ELECTRIC_EXPOSED_HEADERS = [
  ELECTRIC_CURSOR_HEADER,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_HAS_DATA_HEADER,
  ELECTRIC_OFFSET_HEADER,
  ELECTRIC_SCHEMA_HEADER,
  ELECTRIC_UP_TO_DATE_HEADER,
  ELECTRIC_INTERNAL_KNOWN_ERROR_HEADER,
  "retry-after",
] as const;

// --- Query parameters (§1.2)
export const TABLE_PARAM = "table";
export const WHERE_PARAM = "where";
export const PARAMS_PARAM = "params";
export const COLUMNS_PARAM = "columns";
export const REPLICA_PARAM = "replica";
export const HANDLE_PARAM = "handle";
export const OFFSET_PARAM = "offset";
export const LIVE_PARAM = "live";
export const LIVE_SSE_PARAM = "live_sse";
export const EXPERIMENTAL_LIVE_SSE_PARAM = "experimental_live_sse";
export const CURSOR_PARAM = "cursor";
export const LOG_PARAM = "log";
export const EXPIRED_HANDLE_PARAM = "expired_handle";
export const CACHE_BUSTER_PARAM = "cache-buster";
export const SECRET_PARAM = "secret";
export const SUBSET_PARAM_PREFIX = "subset__";

/**
 * The protocol parameters a proxy forwards from its client to the shape server
 * (the union of every client version's ELECTRIC_PROTOCOL_QUERY_PARAMS, §7.3).
 * A proxy sets table/where/params/columns/replica itself and never forwards the client's.
 */
export const ELECTRIC_PROTOCOL_QUERY_PARAMS = [
  LIVE_PARAM,
  LIVE_SSE_PARAM,
  EXPERIMENTAL_LIVE_SSE_PARAM,
  HANDLE_PARAM,
  OFFSET_PARAM,
  CURSOR_PARAM,
  EXPIRED_HANDLE_PARAM,
  LOG_PARAM,
  CACHE_BUSTER_PARAM,
  "subset__where",
  "subset__limit",
  "subset__offset",
  "subset__order_by",
  "subset__params",
  "subset__where_expr",
  "subset__order_by_expr",
] as const;

// --- Offsets (§4.1)
export const INITIAL_OFFSET = "-1";
export const NOW_OFFSET = "now";

// --- Control messages (§3.3)
export const UP_TO_DATE = "up-to-date";
export const MUST_REFETCH = "must-refetch";
export const SNAPSHOT_END = "snapshot-end";

export type Operation = "insert" | "update" | "delete";

export interface ChangeMessage<Row = Record<string, string | null>> {
  key: string;
  value: Row;
  old_value?: Partial<Row>;
  headers: {
    operation: Operation;
    relation?: [string, string];
    lsn?: string;
    op_position?: number;
    txids?: number[];
    last?: boolean;
  };
}

export interface ControlMessage {
  headers: {
    control: typeof UP_TO_DATE | typeof MUST_REFETCH | typeof SNAPSHOT_END;
    global_last_seen_lsn?: string;
    xmin?: string;
    xmax?: string;
    xip_list?: string[];
  };
}

export type ShapeMessage<Row = Record<string, string | null>> = ChangeMessage<Row> | ControlMessage;

export const upToDateMessage = (globalLastSeenLsn?: string): ControlMessage => ({
  headers: globalLastSeenLsn === undefined ? { control: UP_TO_DATE } : { control: UP_TO_DATE, global_last_seen_lsn: globalLastSeenLsn },
});

/** The exact 409 body (§6.2): a JSON array, so clients ≤1.5.14 can publish it as messages. */
export const MUST_REFETCH_BODY: ControlMessage[] = [{ headers: { control: MUST_REFETCH } }];

export function isChangeMessage(message: ShapeMessage): message is ChangeMessage {
  return "key" in message;
}

export function isControlMessage(message: ShapeMessage): message is ControlMessage {
  return !("key" in message) && "control" in message.headers;
}

/** One column of the `electric-schema` header (§9.5). */
export interface ColumnSchema {
  type: string;
  dims?: number;
  pk_index?: number;
  not_null?: boolean;
  max_length?: number;
  length?: number;
  precision?: number;
  scale?: number;
  fields?: string;
  type_mod?: number;
}

export type ShapeSchema = Record<string, ColumnSchema>;

// --- Cache-control values (§7.1)
export const CACHE_CONTROL_INITIAL = "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746";
export const CACHE_CONTROL_LIVE = "public, max-age=5, stale-while-revalidate=5";
export const CACHE_CONTROL_MUST_REFETCH = "public, max-age=60, must-revalidate";
export const CACHE_CONTROL_ERROR = "no-store";
export const CACHE_CONTROL_HEALTH = "no-cache, no-store, must-revalidate";
export const cacheControlCatchUp = (maxAge: number, staleAge: number) =>
  `public, max-age=${maxAge}, stale-while-revalidate=${staleAge}`;
