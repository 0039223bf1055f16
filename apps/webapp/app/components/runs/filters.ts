/** Run list filters, shared by the loader (query) and the page (live rows are filtered the same way). Pure. */
import { z } from "zod";
import { PUBLIC_RUN_STATUSES } from "@runfeed/core";
import type { RealtimeRun } from "@runfeed/sdk";

export const TIME_RANGES = {
  "15m": 15 * 60_000,
  "1h": 3_600_000,
  "6h": 6 * 3_600_000,
  "24h": 86_400_000,
  "7d": 7 * 86_400_000,
  "30d": 30 * 86_400_000,
  all: undefined,
} as const;
export type TimeRange = keyof typeof TIME_RANGES;

/** A short free-text filter: trimmed, at most 128 characters; empty or invalid is no filter. */
const OptionalText = z
  .string()
  .trim()
  .max(128)
  .optional()
  .catch(undefined)
  .transform((v) => v || undefined);

export const RunFilters = z.object({
  status: z.enum(PUBLIC_RUN_STATUSES).optional().catch(undefined),
  task: OptionalText,
  tag: OptionalText,
  range: z
    .enum(Object.keys(TIME_RANGES) as [TimeRange, ...TimeRange[]])
    .catch("7d")
    .default("7d"),
  /** `<createdAtMs>_<friendlyId>` of the last row of the previous page. */
  cursor: z
    .string()
    .regex(/^\d+_run_[A-Za-z0-9]+$/)
    .optional()
    .catch(undefined),
  limit: z.coerce.number().int().min(1).max(500).catch(25).default(25),
});
export type RunFilters = z.output<typeof RunFilters>;

export function parseRunFilters(url: URL): RunFilters {
  const raw = Object.fromEntries([...url.searchParams].filter(([, value]) => value !== ""));
  return RunFilters.parse(raw);
}

/** Where the next history page starts: after this run (newest first by creation time, then friendly id). */
export const runCursor = (run: Pick<RealtimeRun, "createdAt" | "id">) => `${run.createdAt.getTime()}_${run.id}`;

export function parseRunCursor(cursor: string): { createdAt: Date; friendlyId: string } {
  const split = cursor.indexOf("_");
  return { createdAt: new Date(Number(cursor.slice(0, split))), friendlyId: cursor.slice(split + 1) };
}
