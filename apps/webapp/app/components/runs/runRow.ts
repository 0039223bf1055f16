/**
 * The dashboard's view of a run, built either from a Prisma row (loaders) or from a streamed shape
 * row (the live feed, realtime-contract §5.1: timestamps UTC without a zone, metadata as JSON text).
 * Pure, shared by server and browser.
 */
import { publicStatusFromRunStatus, type PublicRunStatus } from "@runfeed/core";

export interface RunListItem {
  id: string;
  friendlyId: string;
  taskIdentifier: string;
  /** DB status name, as streamed. */
  status: string;
  tags: string[];
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  completedAt: number | null;
  usageDurationMs: number;
  costInCents: number;
  baseCostInCents: number;
  metadata: Record<string, unknown> | null;
}

export interface PrismaRunLike {
  id: string;
  friendlyId: string;
  taskIdentifier: string;
  status: string;
  runTags: string[] | null;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  usageDurationMs: number;
  costInCents: number;
  baseCostInCents: number;
  metadata: string | null;
}

export function runFromPrisma(run: PrismaRunLike): RunListItem {
  return {
    id: run.id,
    friendlyId: run.friendlyId,
    taskIdentifier: run.taskIdentifier,
    status: run.status,
    tags: run.runTags ?? [],
    createdAt: run.createdAt.getTime(),
    updatedAt: run.updatedAt.getTime(),
    startedAt: run.startedAt?.getTime() ?? null,
    completedAt: run.completedAt?.getTime() ?? null,
    usageDurationMs: run.usageDurationMs,
    costInCents: run.costInCents,
    baseCostInCents: run.baseCostInCents,
    metadata: parseMetadata(run.metadata),
  };
}

/** A row as `@electric-sql/client` hands it over (ints, floats, bools and arrays already parsed). */
export function runFromShapeRow(row: Record<string, unknown>): RunListItem {
  return {
    id: String(row.id),
    friendlyId: String(row.friendlyId),
    taskIdentifier: String(row.taskIdentifier),
    status: String(row.status),
    tags: Array.isArray(row.runTags) ? row.runTags.map(String) : [],
    createdAt: parseUtcTimestamp(row.createdAt) ?? 0,
    updatedAt: parseUtcTimestamp(row.updatedAt) ?? 0,
    startedAt: parseUtcTimestamp(row.startedAt),
    completedAt: parseUtcTimestamp(row.completedAt),
    usageDurationMs: Number(row.usageDurationMs ?? 0),
    costInCents: Number(row.costInCents ?? 0),
    baseCostInCents: Number(row.baseCostInCents ?? 0),
    metadata: typeof row.metadata === "string" ? parseMetadata(row.metadata) : null,
  };
}

/** `2026-06-06T10:00:00.000` or `2026-06-06 10:00:00.123` (UTC, no zone) → epoch ms. */
export function parseUtcTimestamp(value: unknown): number | null {
  if (typeof value !== "string" || value === "") return null;
  const iso = value.replace(" ", "T");
  const ms = Date.parse(/[zZ]|[+-]\d\d(:?\d\d)?$/.test(iso) ? iso : `${iso}Z`);
  return Number.isNaN(ms) ? null : ms;
}

function parseMetadata(text: string | null): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" && !Array.isArray(value) ? value : null;
  } catch {
    return null;
  }
}

export const publicStatus = (run: Pick<RunListItem, "status">): PublicRunStatus =>
  publicStatusFromRunStatus(run.status);

export type StatusTone = "queued" | "running" | "success" | "failed" | "canceled" | "waiting";

export function statusTone(status: PublicRunStatus): StatusTone {
  switch (status) {
    case "COMPLETED":
      return "success";
    case "EXECUTING":
    case "DEQUEUED":
      return "running";
    case "WAITING":
      return "waiting";
    case "CANCELED":
      return "canceled";
    case "FAILED":
    case "CRASHED":
    case "SYSTEM_FAILURE":
    case "EXPIRED":
    case "TIMED_OUT":
      return "failed";
    default:
      return "queued";
  }
}

/** Progress 0–1 from metadata: `progress` (0–1 or 0–100) or `processed` / `total`. */
export function metadataProgress(metadata: Record<string, unknown> | null | undefined): number | undefined {
  if (!metadata) return undefined;
  const { progress, processed, total } = metadata as { progress?: unknown; processed?: unknown; total?: unknown };
  if (typeof progress === "number" && Number.isFinite(progress)) return clamp(progress > 1 ? progress / 100 : progress);
  if (typeof processed === "number" && typeof total === "number" && total > 0) return clamp(processed / total);
  return undefined;
}

const clamp = (value: number) => Math.min(1, Math.max(0, value));

/** Wall-clock duration: finished runs from start to end, running ones up to `now`. */
export function runDurationMs(
  run: Pick<RunListItem, "startedAt" | "completedAt" | "usageDurationMs">,
  now: number,
): number | null {
  if (run.startedAt === null) return run.usageDurationMs > 0 ? run.usageDurationMs : null;
  return Math.max(0, (run.completedAt ?? now) - run.startedAt);
}

export function formatDuration(ms: number | null): string {
  if (ms === null) return "–";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${Math.round(seconds % 60)}s`;
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`;
}

export function formatCost(cents: number): string {
  if (!cents) return "–";
  const dollars = cents / 100;
  return dollars < 0.01 ? `$${dollars.toFixed(6)}` : `$${dollars.toFixed(4)}`;
}

export function formatRelative(from: number, now: number): string {
  const seconds = Math.round((now - from) / 1000);
  if (seconds < 5) return "just now";
  if (seconds < 60) return `${seconds}s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ago`;
  return `${Math.floor(hours / 24)}d ago`;
}

export function formatTimestamp(ms: number | null): string {
  if (ms === null) return "–";
  return new Date(ms).toISOString().replace("T", " ").replace("Z", " UTC");
}
