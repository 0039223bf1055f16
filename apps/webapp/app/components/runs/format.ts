/**
 * How the dashboard shows a run: status colour, progress from metadata, duration, cost and times.
 * Runs are the SDK's `RealtimeRun` (one mapping from wire or database row, packages/sdk/src/run.ts),
 * whether they came from a loader or the live feed. Pure, shared by server and browser.
 */
import type { PublicRunStatus } from "@runfeed/core";
import type { RealtimeRun } from "@runfeed/sdk";

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
  run: Pick<RealtimeRun, "startedAt" | "finishedAt" | "durationMs">,
  now: number,
): number | null {
  if (!run.startedAt) return run.durationMs > 0 ? run.durationMs : null;
  return Math.max(0, (run.finishedAt?.getTime() ?? now) - run.startedAt.getTime());
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
