/**
 * A streamed run row (contract §5.1) → the typed run object users see (§5.4), the same shape the
 * Trigger.dev SDK's `RealtimeRun` has. Pure. Accepts values both as wire strings and as already
 * typed by the Electric parser (numbers, booleans, arrays, parsed jsonb).
 */
import { publicStatusFromRunStatus, runStatusFlags } from "@runfeed/core";
import type { RealtimeRunSkipColumn, RunStatus } from "./public-types.js";
import { RunParseError } from "./errors.js";

export type { RunStatus };

/** One row as folded from the feed: column → value (string, or typed by the Electric parser). */
export type RawRunRow = Partial<
  Record<RealtimeRunSkipColumn | "id" | "friendlyId" | "taskIdentifier" | "status" | "createdAt" | "updatedAt", unknown>
> &
  Record<string, unknown>;

export interface RunError {
  name?: string;
  message: string;
  stackTrace?: string;
  causes?: unknown;
}

export interface RealtimeRun<
  TPayload = unknown,
  TOutput = unknown,
  TMetadata extends Record<string, unknown> = Record<string, unknown>,
> {
  /** The run's friendly id (`run_…`). */
  id: string;
  taskIdentifier: string;
  status: RunStatus;
  createdAt: Date;
  updatedAt: Date;
  startedAt?: Date;
  delayedUntil?: Date;
  queuedAt?: Date;
  expiredAt?: Date;
  /** Set once the run reached a final state; a run subscription ends after emitting it. */
  finishedAt?: Date;
  payload?: TPayload;
  output?: TOutput;
  metadata?: TMetadata;
  error?: RunError;
  tags: string[];
  realtimeStreams: string[];
  /** Never streamed (contract §5.1); always undefined on realtime runs. */
  idempotencyKey?: string;
  number: number;
  isTest: boolean;
  durationMs: number;
  costInCents: number;
  baseCostInCents: number;
  isQueued: boolean;
  isWaiting: boolean;
  isExecuting: boolean;
  isCompleted: boolean;
  isFailed: boolean;
  isSuccess: boolean;
  isCancelled: boolean;
}

/** UTC without zone (`2026-06-06T10:00:00.000` or Postgres `2026-06-06 10:00:00.123`) → Date. */
export function parseUtcTimestamp(value: unknown): Date | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  if (value instanceof Date) return value;
  if (typeof value !== "string") return undefined;
  const iso = value.includes("T") ? value : value.replace(" ", "T");
  const hasZone = /(Z|[+-]\d\d(:?\d\d)?)$/.test(iso.slice(10));
  const date = new Date(hasZone ? iso : `${iso}Z`);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function requiredDate(row: RawRunRow, column: "createdAt" | "updatedAt"): Date {
  const date = parseUtcTimestamp(row[column]);
  if (!date)
    throw new RunParseError(
      `Run ${String(row.friendlyId)} has an invalid ${column} (${JSON.stringify(row[column])}); expected UTC without zone.`,
    );
  return date;
}

function requiredString(row: RawRunRow, column: "friendlyId" | "taskIdentifier" | "status"): string {
  const value = row[column];
  if (typeof value !== "string" || value.length === 0) {
    throw new RunParseError(
      `A streamed run lacks ${column} (row key ${String(row.id)}); the server must send full rows.`,
    );
  }
  return value;
}

const toNumber = (value: unknown, fallback = 0) => {
  if (typeof value === "number") return value;
  if (typeof value === "string" && value !== "") {
    const n = Number(value);
    return Number.isFinite(n) ? n : fallback;
  }
  return fallback;
};

const toBoolean = (value: unknown) => value === true || value === "t" || value === "true";

/** Postgres array literal (`{"a","b\"c"}`) or an already-parsed array → string[]. */
export function parseTextArray(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === "string");
  if (typeof value !== "string" || value.length < 2 || value === "{}") return [];
  const out: string[] = [];
  const inner = value.slice(1, -1);
  let i = 0;
  while (i < inner.length) {
    if (inner[i] === '"') {
      let item = "";
      i++;
      while (i < inner.length && inner[i] !== '"') {
        if (inner[i] === "\\") i++;
        item += inner[i] ?? "";
        i++;
      }
      out.push(item);
      i += 2; // closing quote and comma
    } else {
      const end = inner.indexOf(",", i);
      const item = inner.slice(i, end === -1 ? undefined : end);
      if (item !== "NULL") out.push(item);
      i = end === -1 ? inner.length : end + 1;
    }
  }
  return out;
}

/**
 * Deserialises a payload/output/metadata packet by its *Type (contract §5.4). `application/json`
 * is parsed; `application/super+json` yields its `json` part (superjson's extra type info for
 * Dates, Maps… is not re-applied); `text/plain` and unknown types pass the string through;
 * empty data is undefined. `application/store` is returned as the store path string.
 */
export function parsePacket(data: unknown, dataType: unknown): unknown {
  if (data === null || data === undefined || data === "") return undefined;
  if (typeof data !== "string") return data;
  if (!dataType) return undefined;
  switch (dataType) {
    case "application/json":
      return JSON.parse(data);
    case "application/super+json": {
      const parsed = JSON.parse(data) as { json?: unknown };
      return parsed && typeof parsed === "object" && "json" in parsed ? parsed.json : parsed;
    }
    default:
      return data;
  }
}

const INTERNAL_ERROR_PREFIX = "trigger.dev internal error";

/** `TaskRunError` JSON → `{ name?, message, stackTrace? }` (createJsonErrorObject). */
export function parseRunError(value: unknown): RunError | undefined {
  if (value === null || value === undefined || value === "") return undefined;
  const error = (typeof value === "string" ? JSON.parse(value) : value) as Record<string, unknown>;
  switch (error.type) {
    case "BUILT_IN_ERROR":
      return {
        name: error.name as string,
        message: String(error.message ?? ""),
        stackTrace: error.stackTrace as string | undefined,
        causes: error.causes,
      };
    case "CUSTOM_ERROR":
    case "STRING_ERROR":
      return { message: String(error.raw ?? "") };
    case "INTERNAL_ERROR":
      return {
        message: `${INTERNAL_ERROR_PREFIX} (${String(error.code)})`,
        stackTrace: error.stackTrace as string | undefined,
      };
    default:
      throw new RunParseError(`Run error has unknown type ${JSON.stringify(error.type)}.`);
  }
}

export function toRealtimeRun<
  TPayload = unknown,
  TOutput = unknown,
  TMetadata extends Record<string, unknown> = Record<string, unknown>,
>(row: RawRunRow): RealtimeRun<TPayload, TOutput, TMetadata> {
  const status = publicStatusFromRunStatus(requiredString(row, "status"));
  return {
    id: requiredString(row, "friendlyId"),
    taskIdentifier: requiredString(row, "taskIdentifier"),
    status,
    createdAt: requiredDate(row, "createdAt"),
    updatedAt: requiredDate(row, "updatedAt"),
    startedAt: parseUtcTimestamp(row.startedAt),
    delayedUntil: parseUtcTimestamp(row.delayUntil),
    queuedAt: parseUtcTimestamp(row.queuedAt),
    expiredAt: parseUtcTimestamp(row.expiredAt),
    finishedAt: parseUtcTimestamp(row.completedAt),
    payload: parsePacket(row.payload, row.payloadType) as TPayload | undefined,
    output: parsePacket(row.output, row.outputType) as TOutput | undefined,
    metadata: (row.metadata && row.metadataType ? parsePacket(row.metadata, row.metadataType) : undefined) as
      | TMetadata
      | undefined,
    error: parseRunError(row.error),
    tags: parseTextArray(row.runTags),
    realtimeStreams: parseTextArray(row.realtimeStreams),
    idempotencyKey: undefined,
    number: toNumber(row.number),
    isTest: toBoolean(row.isTest),
    durationMs: toNumber(row.usageDurationMs),
    costInCents: toNumber(row.costInCents),
    baseCostInCents: toNumber(row.baseCostInCents),
    ...runStatusFlags(status),
  };
}
