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
  SUBSET_PARAM_PREFIX,
  TABLE_PARAM,
  WHERE_PARAM,
  parseOffset,
  type LogMode,
  type LogOffset,
  type ReplicaMode,
} from "@runfeed/core";
import { InvalidRequestError, type FieldErrors } from "./errors.js";

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
  subset?: Record<string, string>;
}

const truthy = (v: string | null | undefined) => v !== null && v !== undefined && v !== "false";

export function parseShapeParams(query: URLSearchParams, body?: Record<string, unknown>): ShapeParams {
  const get = (k: string): string | undefined => {
    if (body && k in body && body[k] !== undefined && body[k] !== null) return String(body[k]);
    return query.get(k) ?? undefined;
  };
  const has = (k: string) => (body && k in body) || query.has(k);
  const errors: FieldErrors = {};
  const add = (f: string, m: string) => (errors[f] ??= []).push(m);

  const table = get(TABLE_PARAM);
  if (!table) add(TABLE_PARAM, "can't be blank");

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
  const sseRaw = has(LIVE_SSE_PARAM) ? (get(LIVE_SSE_PARAM) ?? "") : has(EXPERIMENTAL_LIVE_SSE_PARAM) ? (get(EXPERIMENTAL_LIVE_SSE_PARAM) ?? "") : undefined;
  const liveSse = sseRaw !== undefined && truthy(sseRaw);
  if (liveSse && !live) add(LIVE_SSE_PARAM, "can't be true unless live is also true");

  const replica = get(REPLICA_PARAM) ?? "default";
  if (replica !== "default" && replica !== "full") add(REPLICA_PARAM, "is invalid");
  const log = get(LOG_PARAM) ?? "full";
  if (log !== "full" && log !== "changes_only") add(LOG_PARAM, "is invalid");

  // params[n]=v (deep object) or a JSON object / array in the body
  const paramMap = new Map<string, string>();
  for (const [k, v] of query) {
    const m = /^params\[([^\]]*)\]$/.exec(k);
    if (m) paramMap.set(m[1]!, v);
  }
  const bodyParams = body?.params;
  if (bodyParams && typeof bodyParams === "object") for (const [k, v] of Object.entries(bodyParams)) paramMap.set(Array.isArray(bodyParams) ? String(Number(k) + 1) : k, String(v));
  const params: string[] = [];
  if (paramMap.size > 0) {
    const keys = [...paramMap.keys()];
    if (keys.some((k) => !/^\d+$/.test(k))) add("params", "Parameters can only use numbers as keys");
    else {
      const nums = keys.map(Number).sort((a, b) => a - b);
      if (nums.some((n, i) => n !== i + 1)) add("params", "Parameters must be numbered sequentially, starting from 1");
      else for (const n of nums) params.push(paramMap.get(String(n))!);
    }
  }

  let subset: Record<string, string> | undefined;
  for (const [k, v] of query) if (k.startsWith(SUBSET_PARAM_PREFIX)) (subset ??= {})[k.slice(SUBSET_PARAM_PREFIX.length)] = v;

  if (Object.keys(errors).length > 0) throw new InvalidRequestError(errors);
  return {
    table: table!,
    where: get(WHERE_PARAM) || undefined,
    params,
    columns: get(COLUMNS_PARAM),
    replica: replica as ReplicaMode,
    log: log as LogMode,
    offset: offset!,
    offsetText: offsetText!,
    handle,
    live,
    liveSse,
    cursor: get(CURSOR_PARAM),
    subset,
  };
}
