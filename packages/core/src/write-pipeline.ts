/**
 * The write pipeline's wire values (docs/decisions/092-write-pipeline.md): urgency classes, the
 * batched endpoints' paths and bodies, and the limits a client batches within. Shared by the webapp
 * (validation, stream names) and @runfeed/sdk (client-side batching). Pure: no I/O.
 */
import { z } from "zod";
import { MetadataOperationSchema } from "./api-schemas.js";
import { RUN_LOG_KINDS, RUN_LOG_LEVELS, RUN_LOG_LIMITS } from "./run-logs.js";

/**
 * How soon a write must reach Postgres. `critical` (trigger, cancel, status, completion) is written
 * before the answer and never passes through a buffer; `high` (metadata operations) and `low` (run
 * log lines and events) are appended to Redis Streams and applied by the drain.
 */
export const URGENCY_CLASSES = ["critical", "high", "low"] as const;
export type UrgencyClass = (typeof URGENCY_CLASSES)[number];
/** The classes that go through the buffer. */
export const BUFFERED_CLASSES = ["high", "low"] as const satisfies readonly UrgencyClass[];
export type BufferedClass = (typeof BUFFERED_CLASSES)[number];

export const METADATA_BATCH_PATH = "/api/v1/metadata/batch";
export const LOGS_BATCH_PATH = "/api/v1/logs/batch";
/** Most items in one batched request; a client batches within it. */
export const MAX_BATCH_ITEMS = 1_000;
/** Largest batched request body in bytes. */
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;

const RunRef = z.string().min(1).max(256);

/** Metadata operations for one run, addressed by id (friendly `run_…` or internal). */
export const MetadataBatchItem = z
  .object({
    runId: RunRef,
    operations: z.array(MetadataOperationSchema).max(1_000).optional(),
    parentOperations: z.array(MetadataOperationSchema).max(1_000).optional(),
    rootOperations: z.array(MetadataOperationSchema).max(1_000).optional(),
  })
  .strict()
  .refine((item) => !!(item.operations?.length || item.parentOperations?.length || item.rootOperations?.length), {
    message: "An item needs at least one operation (operations, parentOperations or rootOperations)",
  });
export type MetadataBatchItem = z.output<typeof MetadataBatchItem>;

export const MetadataBatchRequestBody = z.object({ items: z.array(MetadataBatchItem).min(1).max(MAX_BATCH_ITEMS) });
export type MetadataBatchRequestBody = z.output<typeof MetadataBatchRequestBody>;

/**
 * Whether a string's UTF-8 form fits in `limit` bytes. A UTF-16 code unit is at most 3 UTF-8 bytes, so
 * strings under a third of the limit pass without being encoded (the common, small case: the accept
 * path checks a thousand lines per request).
 */
function withinBytes(text: string, limit: number): boolean {
  if (text.length * 3 <= limit) return true;
  return text.length <= limit && new TextEncoder().encode(text).byteLength <= limit;
}

/** One log line or event of a run. `time` defaults to when it was accepted. */
export const LogBatchItem = z
  .object({
    runId: RunRef,
    kind: z.enum(RUN_LOG_KINDS).default("log"),
    level: z.enum(RUN_LOG_LEVELS).default("info"),
    message: z.string().max(RUN_LOG_LIMITS.messageChars),
    attributes: z
      .record(z.string(), z.unknown())
      .refine((value) => withinBytes(JSON.stringify(value), RUN_LOG_LIMITS.attributesBytes), {
        message: `attributes may be at most ${RUN_LOG_LIMITS.attributesBytes} bytes as JSON`,
      })
      .optional(),
    time: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type LogBatchItem = z.output<typeof LogBatchItem>;

export const LogBatchRequestBody = z.object({ items: z.array(LogBatchItem).min(1).max(MAX_BATCH_ITEMS) });
export type LogBatchRequestBody = z.output<typeof LogBatchRequestBody>;

/** What a batched endpoint answers (202): every item was appended durably; the drain applies them. */
export const BatchAcceptedResponse = z.object({ accepted: z.number().int(), urgency: z.enum(BUFFERED_CLASSES) });
export type BatchAcceptedResponse = z.output<typeof BatchAcceptedResponse>;
