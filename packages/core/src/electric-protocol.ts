/**
 * The Electric HTTP shape protocol as data: every header, query parameter and control value,
 * named once (docs/protocol/electric.md). Shared by apps/shape-sync (server),
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
export const SUBSET_WHERE_PARAM = "subset__where";
export const SUBSET_PARAMS_PARAM = "subset__params";
export const SUBSET_LIMIT_PARAM = "subset__limit";
export const SUBSET_OFFSET_PARAM = "subset__offset";
export const SUBSET_ORDER_BY_PARAM = "subset__order_by";
export const SUBSET_WHERE_EXPR_PARAM = "subset__where_expr";
export const SUBSET_ORDER_BY_EXPR_PARAM = "subset__order_by_expr";
/** POST body (§1.3): these keys (bare, or under the nested `subset` object) are subset params. */
export const SUBSET_BODY_KEY = "subset";
export const SUBSET_BODY_KEYS = [
  "where",
  "params",
  "limit",
  "offset",
  "order_by",
  "where_expr",
  "order_by_expr",
] as const;
/** Field name of subset validation errors: `{"errors":{"subset":{"where":[…]}}}`. */
export const SUBSET_ERROR_FIELD = "subset";

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
  SUBSET_WHERE_PARAM,
  SUBSET_LIMIT_PARAM,
  SUBSET_OFFSET_PARAM,
  SUBSET_ORDER_BY_PARAM,
  SUBSET_PARAMS_PARAM,
  SUBSET_WHERE_EXPR_PARAM,
  SUBSET_ORDER_BY_EXPR_PARAM,
] as const;

// --- Offsets (§4.1)
export const INITIAL_OFFSET = "-1";
export const NOW_OFFSET = "now";

// --- Control messages (§3.3)
export const UP_TO_DATE = "up-to-date";
export const MUST_REFETCH = "must-refetch";
export const SNAPSHOT_END = "snapshot-end";

export type Operation = "insert" | "update" | "delete";

/** A change message (§3.2): the one type for rows on the wire, in the shape log and in compaction. */
export interface ChangeMessage<Row = Record<string, string | null>> {
  key: string;
  value: Row;
  old_value?: Partial<Row>;
  headers: ChangeHeaders;
}

export interface ChangeHeaders {
  operation: Operation;
  relation?: [string, string];
  /** Replication-sourced only: the commit LSN as a decimal string. */
  lsn?: string;
  /** Replication-sourced only: the op index inside the transaction (§4.1). */
  op_position?: number;
  txids?: number[];
  /** The last change of its transaction for this shape. */
  last?: boolean;
  /** A PK-changing update: the delete half names the new key, the insert half the old one. */
  key_change_to?: string;
  key_change_from?: string;
  /** Subset snapshot rows only (§3.6). */
  snapshot_mark?: number;
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
  headers:
    globalLastSeenLsn === undefined
      ? { control: UP_TO_DATE }
      : { control: UP_TO_DATE, global_last_seen_lsn: globalLastSeenLsn },
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

/** What the catalog says of a column, as far as its `electric-schema` entry needs (§9.5). */
export interface CatalogColumn {
  typname: string;
  /** Element type name for arrays (a domain's base name for scalars), else typname. */
  elemTypname: string;
  /** 0 for scalars. */
  dims: number;
  notNull: boolean;
  /** pg_attribute.atttypmod (-1: none). */
  typmod: number;
  pkIndex?: number;
}

/** A column's `electric-schema` entry (§9.5): the shape server's and the webapp's native feed's one rule. */
export function columnSchemaOf(c: CatalogColumn): ColumnSchema {
  // The column's own type name (a domain keeps its name here; only evaluation uses the base type).
  const s: ColumnSchema = { type: c.dims > 0 ? c.elemTypname : c.typname };
  if (c.dims > 0) s.dims = c.dims;
  if (c.pkIndex !== undefined) s.pk_index = c.pkIndex;
  if (c.notNull) s.not_null = true;
  if (c.typmod > -1) {
    const t = c.elemTypname;
    if (t === "varchar" || t === "text") s.max_length = c.typmod - 4;
    else if (t === "bpchar") s.length = c.typmod - 4;
    else if (t === "bit" || t === "varbit") s.length = c.typmod;
    else if (["time", "timetz", "timestamp", "timestamptz"].includes(t)) s.precision = c.typmod;
    else if (t === "numeric") {
      const m = c.typmod - 4;
      s.precision = (m >> 16) & 0xffff;
      s.scale = ((m & 0x7ff) ^ 1024) - 1024;
    } else if (t === "interval") {
      const precision = c.typmod & 0xffff;
      if (precision !== 0xffff) s.precision = precision;
    } else s.type_mod = c.typmod;
  }
  return s;
}

// --- Cache-control values (§7.1)
export const CACHE_CONTROL_INITIAL = "public, max-age=604800, s-maxage=3600, stale-while-revalidate=2629746";
export const CACHE_CONTROL_LIVE = "public, max-age=5, stale-while-revalidate=5";
export const CACHE_CONTROL_MUST_REFETCH = "public, max-age=60, must-revalidate";
export const CACHE_CONTROL_ERROR = "no-store";
export const CACHE_CONTROL_HEALTH = "no-cache, no-store, must-revalidate";
export const cacheControlCatchUp = (maxAge: number, staleAge: number) =>
  `public, max-age=${maxAge}, stale-while-revalidate=${staleAge}`;

// --- Further protocol names used by the shape server (§1.2, §2, §3.3)
export const API_SECRET_PARAM = "api_secret";
export const ELECTRIC_SHAPE_PATH = "/v1/shape";
export const ELECTRIC_HEALTH_PATH = "/v1/health";
export const CACHE_CONTROL_NO_CACHE = "no-cache";
export const SURROGATE_CONTROL_HEADER = "surrogate-control";
export const CACHE_CONTROL_MUST_REFETCH_NO_HANDLE = "public, max-age=1, must-revalidate";
export const cacheControlSse = (sseTimeoutSeconds: number) => `public, max-age=${Math.max(0, sseTimeoutSeconds - 1)}`;
export const CORS_ALLOW_METHODS_SHAPE = "GET, POST, HEAD, DELETE, OPTIONS";
export const CORS_ALLOW_METHODS_OTHER = "GET, HEAD";
export const SSE_KEEP_ALIVE = ": keep-alive\n\n";
export type LogMode = "full" | "changes_only";
export type ReplicaMode = "default" | "full";

// --- Offsets (§4.1): pure codec. `tx` is a commit LSN (or 0 for virtual snapshot offsets).
export type LogOffset = { kind: "before_all" } | { kind: "now" } | { kind: "at"; tx: bigint; op: number | "inf" };

/** A position in a shape's log: `<tx>_<op>` (snapshot chunks at tx 0). */
export type OffsetAt = Extract<LogOffset, { kind: "at" }>;

export const BEFORE_ALL: LogOffset = { kind: "before_all" };

const OFFSET_PATTERN = /^(\d+)_(\d+|inf)$/;

/** Parses the `offset` parameter; returns undefined for anything that "has invalid format". */
export function parseOffset(text: string): LogOffset | undefined {
  if (text === INITIAL_OFFSET) return BEFORE_ALL;
  if (text === NOW_OFFSET) return { kind: "now" };
  const m = OFFSET_PATTERN.exec(text);
  if (!m) return undefined;
  const tx = BigInt(m[1]!);
  if (tx >= 1n << 64n) return undefined;
  const op = m[2] === "inf" ? "inf" : Number(m[2]);
  if (op !== "inf" && !Number.isSafeInteger(op)) return undefined;
  return { kind: "at", tx, op };
}

export function formatOffset(offset: LogOffset): string {
  if (offset.kind === "before_all") return INITIAL_OFFSET;
  if (offset.kind === "now") return NOW_OFFSET;
  return `${offset.tx}_${offset.op}`;
}

export const offsetAt = (tx: bigint, op: number | "inf"): OffsetAt => ({ kind: "at", tx, op });

/** Total order: -1 < every real offset; `inf` above every op of the same tx. `now` is not comparable. */
export function compareOffsets(a: LogOffset, b: LogOffset): number {
  if (a.kind === "now" || b.kind === "now") throw new TypeError("offset 'now' has no position");
  if (a.kind === "before_all") return b.kind === "before_all" ? 0 : -1;
  if (b.kind === "before_all") return 1;
  if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1;
  if (a.op === b.op) return 0;
  if (a.op === "inf") return 1;
  if (b.op === "inf") return -1;
  return a.op < b.op ? -1 : 1;
}

// --- LSN helpers (§4.1, §0.5): `X/Y` ⇄ 64-bit integer, decimal strings on the wire.
export function lsnToBigInt(lsn: string): bigint {
  const [hi, lo] = lsn.split("/");
  if (hi === undefined || lo === undefined) throw new TypeError(`invalid LSN ${lsn}`);
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

export function bigIntToLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

// --- Cursor (§4.3)
export const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9);

/** Next `electric-cursor`: time bucket of `longPollTimeoutMs`, strictly above the request's cursor. */
export function nextCursor(
  requestCursor: string | undefined | null,
  longPollTimeoutMs: number,
  nowMs: number,
  random: () => number = Math.random,
): string {
  const period = Math.floor(longPollTimeoutMs / 1000);
  if (period <= 0) return "0";
  const t = (nowMs - CURSOR_EPOCH_MS) / 1000;
  const next = Math.ceil(t / period) * period;
  const prev = requestCursor && /^\d+$/.test(requestCursor) ? Number(requestCursor) : 0;
  if (next > prev) return String(next);
  return String(prev + 1 + Math.floor(random() * 3600));
}

// --- ETag (§2.2)
export function shapeEtag(handle: string, requestOffset: string, responseOffset: string, unique?: number): string {
  return unique === undefined
    ? `"${handle}:${requestOffset}:${responseOffset}"`
    : `"${handle}:${requestOffset}:${responseOffset}:${unique}"`;
}

/** `If-None-Match` list → bare etag values (quotes kept as sent are normalised to our quoted form). */
export function parseIfNoneMatch(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(",")
    .map((s) => s.trim().replace(/^W\//, "").replace(/^"|"$/g, ""))
    .filter((s) => s.length > 0)
    .map((s) => `"${s}"`);
}

// --- Row keys (§3.2)
const escapeRelPart = (s: string) => s.replace(/\//g, "//").replace(/\./g, "..");

export function relationKeyPrefix(schema: string, table: string): string {
  return `"${escapeRelPart(schema)}"."${escapeRelPart(table)}"`;
}

export function rowKey(prefix: string, pkValues: ReadonlyArray<string | null>): string {
  let key = prefix;
  for (const v of pkValues) key += v === null ? "/_" : `/"${v.replace(/\//g, "//")}"`;
  return key;
}

/** The snapshot-end control message (§3.3). */
export const snapshotEndMessage = (xmin: string, xmax: string, xipList: string[]): ControlMessage => ({
  headers: { control: SNAPSHOT_END, xmin, xmax, xip_list: xipList },
});

/** Validation messages per parameter; subset parameters nest under `subset` (§6.1). */
export type FieldErrors = Record<string, string[] | Record<string, string[]>>;

/**
 * The body of every failed shape request except the 409 (whose body is MUST_REFETCH_BODY): what went
 * wrong, the messages per parameter for a 400 (`"Invalid request"`), a stable code where Electric has
 * one (`concurrent_request_limit_exceeded`). Electric answers a few statuses with `{"error": …}`
 * instead (413, malformed POST bodies, §6.1); clients read the status, never the field.
 */
export interface ErrorBody {
  message: string;
  errors?: FieldErrors;
  code?: string;
}

export const INVALID_REQUEST_MESSAGE = "Invalid request";
