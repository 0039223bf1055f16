/** Write side: trigger, batch trigger, retrieve and cancel (contract §6.1, §6.2, §6.6, §6.7). */
import type { RequestOptions } from "./config.js";
import { apiRequest } from "./http.js";
import type { RunError, RunStatus } from "./run.js";
import { NDJSON_CONTENT_TYPE, TRIGGER_JWT_HEADER } from "@runfeed/core";
import { RunfeedError } from "./errors.js";

export interface TriggerOptions {
  tags?: string | string[];
  idempotencyKey?: string;
  idempotencyKeyTTL?: string;
  /** "1h", "30m" or a Date. */
  delay?: string | Date;
  /** "10m" or seconds. */
  ttl?: string | number;
  metadata?: Record<string, unknown>;
  queue?: { name: string };
  concurrencyKey?: string;
  maxAttempts?: number;
  maxDuration?: number;
  machine?: string;
  priority?: number;
  test?: boolean;
  parentRunId?: string;
}

export interface TriggerResult {
  /** The run's friendly id. */
  id: string;
  isCached: boolean;
  /** A token the server minted that may read this run for 1 h (give it to a browser). */
  publicAccessToken?: string;
}

function triggerBody(payload: unknown, options: TriggerOptions) {
  const { delay, ...rest } = options;
  return {
    payload: payload === undefined ? undefined : JSON.stringify(payload),
    options: {
      ...rest,
      ...(delay !== undefined ? { delay: delay instanceof Date ? delay.toISOString() : delay } : {}),
      payloadType: "application/json",
    },
  };
}

/**
 * Triggers a task run.
 *
 * @example
 * ```ts
 * const { id, publicAccessToken } = await tasks.trigger("send-email", { to: "a@b.c" }, { tags: ["user:1"] });
 * ```
 */
export async function trigger(
  taskId: string,
  payload?: unknown,
  options: TriggerOptions = {},
  request: RequestOptions = {},
): Promise<TriggerResult> {
  const { data, headers } = await apiRequest<{ id: string; isCached?: boolean }>(
    {
      method: "POST",
      path: `/api/v1/tasks/${encodeURIComponent(taskId)}/trigger`,
      body: triggerBody(payload, options),
    },
    request,
  );
  return {
    id: data.id,
    isCached: data.isCached ?? false,
    publicAccessToken: headers.get(TRIGGER_JWT_HEADER) ?? undefined,
  };
}

export interface BatchItem {
  task: string;
  payload?: unknown;
  options?: TriggerOptions;
}

export interface BatchTriggerResult {
  /** The batch's friendly id (`batch_…`), for runs.subscribeToBatch. */
  batchId: string;
  runCount: number;
  isCached: boolean;
  /** A token that may read this batch's runs. */
  publicAccessToken?: string;
}

interface ItemsResponse {
  id: string;
  itemsAccepted: number;
  itemsDeduplicated: number;
  sealed: boolean;
}

/** Attempts at sending the items until the server reports the batch sealed (items are de-duplicated by index). */
const SEAL_ATTEMPTS = 5;

/**
 * Triggers several runs as one batch: creates the batch, then streams the items as NDJSON (§6.2).
 */
export async function batchTrigger(
  items: readonly BatchItem[],
  options: { idempotencyKey?: string } = {},
  request: RequestOptions = {},
): Promise<BatchTriggerResult> {
  if (items.length === 0) throw new RunfeedError("batch.trigger needs at least one item.");
  const created = await apiRequest<{ id: string; runCount: number; isCached?: boolean }>(
    {
      method: "POST",
      path: "/api/v3/batches",
      body: {
        runCount: items.length,
        taskIdentifiers: [...new Set(items.map((item) => item.task))],
        idempotencyKey: options.idempotencyKey,
      },
    },
    request,
  );
  const batchId = created.data.id;
  const ndjson = items
    .map((item, index) => JSON.stringify({ index, task: item.task, ...triggerBody(item.payload, item.options ?? {}) }))
    .join("\n");
  for (let attempt = 1; ; attempt++) {
    const { data } = await apiRequest<ItemsResponse>(
      {
        method: "POST",
        path: `/api/v3/batches/${encodeURIComponent(batchId)}/items`,
        body: `${ndjson}\n`,
        contentType: NDJSON_CONTENT_TYPE,
      },
      request,
    );
    if (data.sealed) break;
    if (attempt >= SEAL_ATTEMPTS)
      throw new RunfeedError(
        `Batch ${batchId} was not sealed after ${SEAL_ATTEMPTS} attempts (${data.itemsAccepted} items accepted).`,
      );
  }
  return {
    batchId,
    runCount: created.data.runCount,
    isCached: created.data.isCached ?? false,
    publicAccessToken: created.headers.get(TRIGGER_JWT_HEADER) ?? undefined,
  };
}

/** The run as `GET /api/v3/runs/:id` returns it, with dates as Date. */
export interface RetrievedRun<TPayload = unknown, TOutput = unknown> {
  id: string;
  status: RunStatus;
  taskIdentifier: string;
  idempotencyKey?: string;
  createdAt: Date;
  updatedAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  delayedUntil?: Date;
  expiredAt?: Date;
  tags: string[];
  payload?: TPayload;
  output?: TOutput;
  metadata?: Record<string, unknown>;
  error?: RunError;
  isTest: boolean;
  isQueued: boolean;
  isExecuting: boolean;
  isWaiting: boolean;
  isCompleted: boolean;
  isSuccess: boolean;
  isFailed: boolean;
  isCancelled: boolean;
  costInCents: number;
  baseCostInCents: number;
  durationMs: number;
  batchId?: string;
  attemptCount?: number;
  [key: string]: unknown;
}

const DATE_FIELDS = ["createdAt", "updatedAt", "startedAt", "finishedAt", "delayedUntil", "expiredAt"] as const;

export async function retrieve<TPayload = unknown, TOutput = unknown>(
  runId: string,
  request: RequestOptions = {},
): Promise<RetrievedRun<TPayload, TOutput>> {
  const { data } = await apiRequest<Record<string, unknown>>(
    { method: "GET", path: `/api/v3/runs/${encodeURIComponent(runId)}` },
    request,
  );
  const run: Record<string, unknown> = { ...data, tags: data.tags ?? [] };
  for (const field of DATE_FIELDS) {
    const value = data[field];
    run[field] = typeof value === "string" ? new Date(value) : undefined;
  }
  return run as RetrievedRun<TPayload, TOutput>;
}

/** Cancels a run; the server sets CANCELED and finishedAt, which ends its subscriptions. */
export async function cancel(runId: string, request: RequestOptions = {}): Promise<{ id: string }> {
  const { data } = await apiRequest<{ id: string }>(
    { method: "POST", path: `/api/v2/runs/${encodeURIComponent(runId)}/cancel` },
    request,
  );
  return data;
}
