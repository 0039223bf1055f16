/**
 * zod schemas of the write API bodies, wire-compatible with @trigger.dev/sdk 4.8.3
 * (realtime-contract §4.5, §6.1–6.6; upstream C:schemas/api.ts and C:schemas/common.ts).
 * Pure: no I/O. Unknown fields are stripped except where upstream is strict (replay).
 */
import { z } from "zod";
import { hasNoDangerousSegment, namesBelowRoot, type MetadataOperation } from "./metadata-operations.js";

export const MAX_TAGS_PER_RUN = 10;
export const MAX_TAG_LENGTH = 128;
export const MAX_IDEMPOTENCY_KEY_LENGTH = 2048;

const RunTag = z.string().max(MAX_TAG_LENGTH, `Tags must be less than ${MAX_TAG_LENGTH} characters`);
export const RunTags = z.union([RunTag, z.array(RunTag)]);

/** `tags` as sent (string or array) → de-duplicated list without empties. */
export function normalizeTags(tags: string | string[] | undefined): string[] {
  if (tags === undefined) return [];
  const list = Array.isArray(tags) ? tags : [tags];
  return [...new Set(list.filter((tag) => tag.length > 0))];
}

const ConcurrencyKey = z.union([z.string(), z.number()]).transform((value) => String(value));
const Delay = z.union([z.string(), z.coerce.date()]);
const Ttl = z.union([z.string(), z.number().int().nonnegative()]);
const IdempotencyKey = z.string().max(MAX_IDEMPOTENCY_KEY_LENGTH, "idempotencyKey must be 2048 characters or less");
export const IdempotencyKeyOptions = z.object({ key: z.string(), scope: z.enum(["run", "attempt", "global"]) });

export const TriggerTaskOptions = z.object({
  parentRunId: z.string().optional(),
  parentBatch: z.string().optional(),
  resumeParentOnCompletion: z.boolean().optional(),
  lockToVersion: z.string().optional(),
  /** The run's queue; `concurrencyLimit` caps how many of its runs execute at once (the newest trigger's wins). */
  queue: z
    .object({ name: z.string().min(1).max(128), concurrencyLimit: z.number().int().min(0).max(100_000).optional() })
    .optional(),
  concurrency: z
    .array(z.string().regex(/^[a-zA-Z0-9_-]{1,122}$/))
    .max(2)
    .optional(),
  concurrencyKey: ConcurrencyKey.optional(),
  delay: Delay.optional(),
  idempotencyKey: IdempotencyKey.optional(),
  idempotencyKeyTTL: z.string().optional(),
  idempotencyKeyOptions: IdempotencyKeyOptions.optional(),
  machine: z.string().optional(),
  maxAttempts: z.number().int().optional(),
  maxDuration: z.number().optional(),
  metadata: z.any().optional(),
  metadataType: z.string().optional(),
  payloadType: z.string().optional(),
  payloadSize: z.number().int().nonnegative().optional(),
  tags: RunTags.optional(),
  test: z.boolean().optional(),
  ttl: Ttl.optional(),
  priority: z.number().optional(),
  region: z.string().optional(),
  externalDeploymentId: z.string().nullish(),
  debounce: z
    .object({
      key: z.string().min(1).max(512),
      delay: z.string(),
      mode: z.enum(["leading", "trailing"]).optional(),
      maxDelay: z.string().optional(),
    })
    .optional(),
});
export type TriggerTaskOptions = z.output<typeof TriggerTaskOptions>;

export const TriggerTaskRequestBody = z
  .object({
    payload: z.any().optional(),
    context: z.any().optional(),
    options: TriggerTaskOptions.optional(),
  })
  .superRefine((body, ctx) => {
    if (
      body.options?.payloadType === "application/store" &&
      (typeof body.payload !== "string" || body.payload === "")
    ) {
      ctx.addIssue({
        code: "custom",
        path: ["payload"],
        message: "payload must be a non-empty string for application/store",
      });
    }
  });
export type TriggerTaskRequestBody = z.output<typeof TriggerTaskRequestBody>;

/** POST /api/v1/runs/:runId/reschedule: a new delay for a DELAYED run. */
export const RescheduleRunRequestBody = z.object({ delay: Delay });
export type RescheduleRunRequestBody = z.output<typeof RescheduleRunRequestBody>;

// ---- schedules (`schedules.*` of the SDK)

export const CreateScheduleRequestBody = z.object({
  task: z.string().min(1).max(512),
  /** Five fields, or six with seconds first. */
  cron: z.string().min(1).max(256),
  deduplicationKey: z.string().min(1).max(512),
  externalId: z.string().max(512).optional(),
  /** IANA time zone; UTC when unset. */
  timezone: z.string().max(64).optional(),
});
export type CreateScheduleRequestBody = z.output<typeof CreateScheduleRequestBody>;

/** PUT /api/v1/schedules/:scheduleId (`schedules.update`): as create, without the deduplication key. */
export const UpdateScheduleRequestBody = CreateScheduleRequestBody.omit({ deduplicationKey: true });
export type UpdateScheduleRequestBody = z.output<typeof UpdateScheduleRequestBody>;

export const ScheduleIdParams = z.object({ scheduleId: z.string().min(1).max(128) });

export const ListSchedulesQuery = z.object({
  page: z.coerce.number().int().positive().default(1),
  perPage: z.coerce.number().int().positive().max(100).default(20),
});

// ---- batches (two-phase, §6.2)

export const CreateBatchRequestBody = z.object({
  runCount: z.number().int().positive(),
  taskIdentifiers: z.array(z.string().min(1)).min(1).optional(),
  parentRunId: z.string().optional(),
  resumeParentOnCompletion: z.boolean().optional(),
  idempotencyKey: IdempotencyKey.optional(),
  idempotencyKeyOptions: IdempotencyKeyOptions.optional(),
});
export type CreateBatchRequestBody = z.output<typeof CreateBatchRequestBody>;

export const BatchItemNDJSON = z.object({
  index: z.number().int().nonnegative(),
  task: z.string().min(1),
  payload: z.unknown().optional(),
  options: TriggerTaskOptions.optional(),
});
export type BatchItemNDJSON = z.output<typeof BatchItemNDJSON>;

// ---- metadata (§6.3)

const MetadataKey = z
  .string()
  .refine(namesBelowRoot, { message: "A JSON path key must name a segment below $" })
  .refine(hasNoDangerousSegment, { message: "Metadata key may not reference __proto__, constructor, or prototype" });
const Json = z.unknown();

export const MetadataOperationSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("update"), value: z.record(z.string(), z.unknown()) }),
  z.object({ type: z.literal("set"), key: MetadataKey, value: Json }),
  z.object({ type: z.literal("delete"), key: MetadataKey }),
  z.object({ type: z.literal("append"), key: MetadataKey, value: Json }),
  z.object({ type: z.literal("remove"), key: MetadataKey, value: Json }),
  z.object({ type: z.literal("increment"), key: MetadataKey, value: z.number().finite() }),
]) as unknown as z.ZodType<MetadataOperation>;

export const UpdateMetadataRequestBody = z.object({
  metadata: z.record(z.string(), z.unknown()).optional(),
  operations: z.array(MetadataOperationSchema).optional(),
  parentOperations: z.array(MetadataOperationSchema).optional(),
  rootOperations: z.array(MetadataOperationSchema).optional(),
});
export type UpdateMetadataRequestBody = z.output<typeof UpdateMetadataRequestBody>;

// ---- tags, replay (§6.5, §6.6)

export const AddTagsRequestBody = z.object({ tags: RunTags });

export const ReplayRunRequestBody = z
  .strictObject({
    payload: z.unknown().optional(),
    payloadType: z.enum(["application/json", "application/super+json"]).optional(),
    metadata: z.record(z.string(), z.unknown()).optional(),
    tags: RunTags.optional(),
    queue: z.string().optional(),
    concurrencyKey: ConcurrencyKey.optional(),
    machine: z.string().optional(),
    version: z.string().optional(),
    region: z.string().optional(),
    delay: Delay.optional(),
    ttl: Ttl.optional(),
    idempotencyKey: IdempotencyKey.optional(),
    idempotencyKeyTTL: z.string().optional(),
    maxAttempts: z.number().int().min(1).optional(),
    maxDuration: z.number().nonnegative().optional(),
    priority: z.number().optional(),
  })
  .superRefine((value, ctx) => {
    if (value.payloadType === "application/super+json" && typeof value.payload !== "string") {
      ctx.addIssue({
        code: "custom",
        path: ["payload"],
        message: "payload must be a SuperJSON string when payloadType is application/super+json",
      });
    }
  });
export type ReplayRunRequestBody = z.output<typeof ReplayRunRequestBody>;

// ---- public tokens (§4.5)

export const CreatePublicTokenRequestBody = z.object({
  scopes: z.array(z.string().min(1)).min(1),
  /** A relative span ("15m", "1h", "7d") or epoch seconds. */
  expirationTime: z.union([z.string(), z.number()]).optional(),
  oneTimeUse: z.boolean().optional(),
  realtime: z.object({ skipColumns: z.array(z.string()).optional() }).optional(),
});
export type CreatePublicTokenRequestBody = z.output<typeof CreatePublicTokenRequestBody>;

// ---- durations ("1h", "30m", "1h30m", "2d", "1w", "10s")

const DURATION_UNIT_MS: Record<string, number> = {
  w: 7 * 86_400_000,
  d: 86_400_000,
  hr: 3_600_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
};
const DURATION = /^(\d+(?:w|d|hr|h|m|s))+$/;

/** Milliseconds of a natural duration like "1h30m", or undefined if it does not parse. */
export function parseDurationMs(value: string): number | undefined {
  const text = value.trim();
  if (!DURATION.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(w|d|hr|h|m|s)/g))
    total += Number(amount) * DURATION_UNIT_MS[unit!]!;
  return total;
}

/** A delay option (duration string, ISO date string, or Date) → the instant it ends; undefined if unparsable. */
export function resolveDelay(delay: string | Date | undefined, now: Date): Date | undefined {
  if (delay === undefined) return undefined;
  if (delay instanceof Date) return Number.isNaN(delay.getTime()) ? undefined : delay;
  const ms = parseDurationMs(delay);
  if (ms !== undefined) return new Date(now.getTime() + ms);
  const date = new Date(delay);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A ttl option (duration string or seconds) → the stored string form ("10m", "30s"). */
export function normalizeTtl(ttl: string | number | undefined): string | undefined {
  if (ttl === undefined) return undefined;
  if (typeof ttl === "number") return ttl > 0 ? `${ttl}s` : undefined;
  return parseDurationMs(ttl) !== undefined ? ttl.trim() : undefined;
}
