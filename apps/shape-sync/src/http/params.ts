/** Query/body parameter parsing and validation for /v1/shape (§1.2, §1.3). Pure. */
import {
  COLUMNS_PARAM,
  CURSOR_PARAM,
  EXPERIMENTAL_LIVE_SSE_PARAM,
  HANDLE_PARAM,
  LIVE_PARAM,
  LIVE_SSE_PARAM,
  LOG_PARAM,
  OFFSET_PARAM,
  REPLICA_PARAM,
  SUBSET_BODY_KEY,
  SUBSET_BODY_KEYS,
  SUBSET_ERROR_FIELD,
  SUBSET_PARAM_PREFIX,
  TABLE_PARAM,
  WHERE_PARAM,
  parseOffset,
  type LogMode,
  type LogOffset,
  type ReplicaMode,
} from "@runfeed/core";
import { InvalidRequestError } from "./errors.js";

export interface ShapeParams {
  table: string;
  where?: string;
  params: string[];
  columns?: string;
  replica: ReplicaMode;
  log: LogMode;
  offset: LogOffset;
  offsetText: string;
  handle?: string;
  live: boolean;
  liveSse: boolean;
  cursor?: string;
  subset?: SubsetParams;
}

/** A subset snapshot request (§1.2 `subset__*`, §1.3 POST body). */
export interface SubsetParams {
  where?: string;
  /** 1-based positional values (`params[0]` = $1). */
  params: string[];
  limit?: number;
  offset?: number;
  orderBy?: string;
}

const SUBSET_KEYS: ReadonlySet<string> = new Set(SUBSET_BODY_KEYS);

/**
 * Positional params from a map of "n" → value: numeric keys, contiguous from 1. Returns an error
 * message or the values.
 */
function positional(map: Map<string, string>): string[] | string {
  const keys = [...map.keys()];
  if (keys.some((k) => !/^\d+$/.test(k))) return "Parameters can only use numbers as keys";
  const nums = keys.map(Number).sort((a, b) => a - b);
  if (nums.some((n, i) => n !== i + 1)) return "Parameters must be numbered sequentially, starting from 1";
  return nums.map((n) => map.get(String(n))!);
}

const paramText = (v: unknown): string =>
  typeof v === "string" ? v : typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);

/**
 * Subset params from the query (`subset__*`) and the POST body (bare subset keys or a nested
 * `subset` object; body wins). Undefined when the request is not a subset request.
 */
export function parseSubsetParams(query: URLSearchParams, body?: Record<string, unknown>): SubsetParams | undefined {
  const raw: Record<string, unknown> = {};
  const deep = new Map<string, string>();
  let present = false;
  for (const [k, v] of query) {
    if (!k.startsWith(SUBSET_PARAM_PREFIX)) continue;
    present = true;
    const name = k.slice(SUBSET_PARAM_PREFIX.length);
    const m = /^params\[([^\]]*)\]$/.exec(name);
    if (m) deep.set(m[1]!, v);
    else raw[name] = v;
  }
  if (body) {
    for (const k of Object.keys(body))
      if (SUBSET_KEYS.has(k)) {
        present = true;
        raw[k] = body[k];
      }
    const nested = body[SUBSET_BODY_KEY];
    if (nested !== undefined) {
      present = true;
      if (nested && typeof nested === "object" && !Array.isArray(nested))
        for (const [k, v] of Object.entries(nested)) if (SUBSET_KEYS.has(k)) raw[k] = v;
    }
  }
  if (!present) return undefined;

  const errors: Record<string, string[]> = {};
  const add: Collect = (f, m) => (errors[f] ??= []).push(m);
  const str = (v: unknown): string | undefined => (v === undefined || v === null || v === "" ? undefined : String(v));

  // params: JSON object string, deep object, or (POST) an object / array.
  const paramMap = new Map<string, string>(deep);
  let rawParams = raw.params;
  if (typeof rawParams === "string" && rawParams !== "") {
    try {
      rawParams = JSON.parse(rawParams);
      if (!rawParams || typeof rawParams !== "object") add("params", "params must be a JSON object");
    } catch {
      add("params", "params must be valid JSON");
      rawParams = undefined;
    }
  }
  if (rawParams && typeof rawParams === "object")
    for (const [k, v] of Object.entries(rawParams))
      paramMap.set(Array.isArray(rawParams) ? String(Number(k) + 1) : k, paramText(v));
  let params: string[] = [];
  if (paramMap.size > 0) {
    const r = positional(paramMap);
    if (typeof r === "string") add("params", r);
    else params = r;
  }

  const int = (field: string, v: unknown, min: number): number | undefined => {
    const t = str(v);
    if (t === undefined) return undefined;
    if (!/^\d+$/.test(t.trim())) {
      add(field, "is invalid");
      return undefined;
    }
    const n = Number(t.trim());
    if (!Number.isSafeInteger(n) || n < min) add(field, `must be greater than or equal to ${min}`);
    return n;
  };
  const limit = int("limit", raw.limit, 1);
  const offset = int("offset", raw.offset, 0);
  const orderBy = str(raw.order_by);
  if ((limit !== undefined || offset !== undefined) && orderBy === undefined)
    add("order_by", "order_by is required when limit or offset is present");

  if (Object.keys(errors).length > 0) throw new InvalidRequestError({ [SUBSET_ERROR_FIELD]: errors });
  return { where: str(raw.where), params, limit, offset, orderBy };
}

const truthy = (v: string | null | undefined) => v !== null && v !== undefined && v !== "false";

/** The parameters that define a shape (§1.4). */
export type DefinitionParams = Pick<ShapeParams, "table" | "where" | "params" | "columns" | "replica" | "log">;

type Collect = (field: string, message: string) => void;

/** Postgres text cannot hold NUL (and the wire protocol cannot carry it in a query string). */
const NUL_MESSAGE = "must not contain NUL characters";

/** table, where, `params[n]=v` (deep object), columns, replica, log; problems go to `add`. */
function readDefinition(
  get: (k: string) => string | undefined,
  query: URLSearchParams,
  add: Collect,
): DefinitionParams {
  const table = get(TABLE_PARAM);
  if (!table) add(TABLE_PARAM, "can't be blank");
  const replica = get(REPLICA_PARAM) ?? "default";
  if (replica !== "default" && replica !== "full") add(REPLICA_PARAM, "is invalid");
  const log = get(LOG_PARAM) ?? "full";
  if (log !== "full" && log !== "changes_only") add(LOG_PARAM, "is invalid");
  // A POST body's `params` are subset params (§1.3): shape params come from the query only.
  const paramMap = new Map<string, string>();
  for (const [k, v] of query) {
    const m = /^params\[([^\]]*)\]$/.exec(k);
    if (m) paramMap.set(m[1]!, v);
  }
  let params: string[] = [];
  if (paramMap.size > 0) {
    const r = positional(paramMap);
    if (typeof r === "string") add("params", r);
    else params = r;
  }
  return {
    table: table ?? "",
    where: get(WHERE_PARAM) || undefined,
    params,
    columns: get(COLUMNS_PARAM),
    replica: replica as ReplicaMode,
    log: log as LogMode,
  };
}

export function parseShapeParams(query: URLSearchParams, body?: Record<string, unknown>): ShapeParams {
  const get = (k: string): string | undefined => {
    if (body && !SUBSET_KEYS.has(k) && k in body && body[k] !== undefined && body[k] !== null) return String(body[k]);
    return query.get(k) ?? undefined;
  };
  const has = (k: string) => (body && !SUBSET_KEYS.has(k) && k in body) || query.has(k);
  const errors: Record<string, string[]> = {};
  const add: Collect = (f, m) => (errors[f] ??= []).push(m);

  for (const [k, v] of query) if (v.includes("\u0000")) add(k.startsWith("params[") ? "params" : k, NUL_MESSAGE);
  if (body) for (const [k, v] of Object.entries(body)) if (JSON.stringify(v)?.includes("\\u0000")) add(k, NUL_MESSAGE);

  const definition = readDefinition(get, query, add);

  const offsetText = get(OFFSET_PARAM);
  let offset: LogOffset | undefined;
  if (!offsetText) add(OFFSET_PARAM, "can't be blank");
  else {
    offset = parseOffset(offsetText);
    if (!offset) add(OFFSET_PARAM, "has invalid format");
  }

  let handle = get(HANDLE_PARAM) || undefined;
  if (offset && (offset.kind === "before_all" || offset.kind === "now")) handle = undefined;
  else if (offset && !handle) add(HANDLE_PARAM, "can't be blank when offset != -1");

  const live = has(LIVE_PARAM) && truthy(get(LIVE_PARAM) ?? "");
  if (live && offset?.kind === "before_all") add(LIVE_PARAM, "can't be true when offset == -1");
  if (live && offset?.kind === "now") add(LIVE_PARAM, "can't be true when offset is 'now'");
  const sseRaw = has(LIVE_SSE_PARAM)
    ? (get(LIVE_SSE_PARAM) ?? "")
    : has(EXPERIMENTAL_LIVE_SSE_PARAM)
      ? (get(EXPERIMENTAL_LIVE_SSE_PARAM) ?? "")
      : undefined;
  const liveSse = sseRaw !== undefined && truthy(sseRaw);
  if (liveSse && !live) add(LIVE_SSE_PARAM, "can't be true unless live is also true");

  if (Object.keys(errors).length > 0) throw new InvalidRequestError(errors);
  const subset = parseSubsetParams(query, body);
  return {
    ...definition,
    offset: offset!,
    offsetText: offsetText!,
    handle,
    live,
    liveSse,
    cursor: get(CURSOR_PARAM),
    subset,
  };
}

/** DELETE /v1/shape (§2.3): a handle, a shape definition, or both. */
export function parseDeleteParams(query: URLSearchParams): { handle?: string; definition?: DefinitionParams } {
  const handle = query.get(HANDLE_PARAM) || undefined;
  if (!query.get(TABLE_PARAM)) return { handle };
  const errors: Record<string, string[]> = {};
  const definition = readDefinition(
    (k) => query.get(k) ?? undefined,
    query,
    (f, m) => (errors[f] ??= []).push(m),
  );
  if (Object.keys(errors).length > 0) throw new InvalidRequestError(errors);
  return { handle, definition };
}
