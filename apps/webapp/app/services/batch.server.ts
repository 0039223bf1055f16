/**
 * Two-phase batch trigger (realtime-contract §6.2, checklist #39).
 *
 * Phase 1 creates the BatchTaskRun (idempotent on `idempotencyKey`). Phase 2 receives NDJSON items;
 * the batch row is locked for the whole request, items whose index was already accepted are counted
 * as de-duplicated (the SDK retries the whole stream when `sealed` is false), and every new item
 * becomes a run with `batchId` set — all in one transaction, so a bad item leaves no runs behind.
 */
import { BatchItemNDJSON, generateBatchFriendlyId, type CreateBatchRequestBody } from "@runfeed/core";
import type { BatchTaskRun, PrismaClient, TaskRun } from "@runfeed/database";
import { validate } from "./apiRoute.server";
import type { AuthenticatedEnvironment } from "./auth.server";
import { HttpError, badRequest, notFound } from "./httpErrors.server";
import { isUniqueViolation } from "./runLookup.server";
import { triggerRunInTransaction } from "./trigger.server";
import { armDelayTimers } from "../engine/delays.server";

export async function createBatch(
  prisma: PrismaClient,
  environment: AuthenticatedEnvironment,
  body: CreateBatchRequestBody,
): Promise<{ batch: BatchTaskRun; isCached: boolean }> {
  const key = body.idempotencyKey;
  if (key) {
    const existing = await prisma.batchTaskRun.findFirst({
      where: { runtimeEnvironmentId: environment.id, idempotencyKey: key },
    });
    if (existing) return { batch: existing, isCached: true };
  }
  try {
    const batch = await prisma.batchTaskRun.create({
      data: {
        friendlyId: generateBatchFriendlyId(),
        runtimeEnvironmentId: environment.id,
        runCount: body.runCount,
        idempotencyKey: key ?? null,
        parentRunId: body.parentRunId ?? null,
      },
    });
    return { batch, isCached: false };
  } catch (error) {
    if (key && isUniqueViolation(error)) {
      const existing = await prisma.batchTaskRun.findFirst({
        where: { runtimeEnvironmentId: environment.id, idempotencyKey: key },
      });
      if (existing) return { batch: existing, isCached: true };
    }
    throw error;
  }
}

/** Parses an NDJSON body; a bad line is a 400 naming the line and the field. */
export function parseBatchItems(text: string): BatchItemNDJSON[] {
  const items: BatchItemNDJSON[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw badRequest(`Invalid JSON on line ${i + 1} of the NDJSON body`);
    }
    items.push(validate(BatchItemNDJSON, value, `Invalid batch item on line ${i + 1}`)!);
  }
  return items;
}

export interface StreamItemsResult {
  id: string;
  itemsAccepted: number;
  itemsDeduplicated: number;
  sealed: boolean;
  enqueuedCount?: number;
  expectedCount?: number;
}

export async function addBatchItems(
  prisma: PrismaClient,
  environment: AuthenticatedEnvironment,
  batchFriendlyId: string,
  items: BatchItemNDJSON[],
  metadataMaximumSize: number,
): Promise<StreamItemsResult> {
  const delayed: TaskRun[] = [];
  try {
    const result = await prisma.$transaction(
      async (tx) => {
        const rows = await tx.$queryRaw<Array<{ id: string; runCount: number; acceptedIndexes: number[] | null }>>`
          SELECT "id", "runCount", "acceptedIndexes" FROM "BatchTaskRun"
          WHERE "friendlyId" = ${batchFriendlyId} AND "runtimeEnvironmentId" = ${environment.id} FOR UPDATE`;
        const batch = rows[0];
        if (!batch) throw notFound("Batch not found");
        const accepted = new Set(batch.acceptedIndexes ?? []);
        let itemsAccepted = 0;
        let itemsDeduplicated = 0;
        for (const item of items) {
          if (item.index >= batch.runCount) {
            throw badRequest(
              `Invalid batch item: index ${item.index} is out of range for a batch of ${batch.runCount}`,
            );
          }
          if (accepted.has(item.index)) {
            itemsDeduplicated++;
            continue;
          }
          const { run } = await triggerRunInTransaction(tx, {
            environment,
            taskId: item.task,
            body: { payload: item.payload, options: item.options },
            batchId: batch.id,
            metadataMaximumSize,
          });
          if (run.status === "DELAYED") delayed.push(run);
          accepted.add(item.index);
          itemsAccepted++;
        }
        const sealed = accepted.size >= batch.runCount;
        await tx.batchTaskRun.update({
          where: { id: batch.id },
          data: { acceptedIndexes: [...accepted].sort((a, b) => a - b), sealed, updatedAt: new Date() },
        });
        return {
          id: batchFriendlyId,
          itemsAccepted,
          itemsDeduplicated,
          sealed,
          ...(sealed ? {} : { enqueuedCount: accepted.size, expectedCount: batch.runCount }),
        };
      },
      { maxWait: 10_000, timeout: 60_000 },
    );
    await armDelayTimers(prisma, delayed);
    return result;
  } catch (error) {
    // A concurrent trigger took an item's idempotency key mid-transaction: nothing was written; retryable.
    if (isUniqueViolation(error))
      throw new HttpError(409, { error: "Conflicting concurrent trigger, retry the request" });
    throw error;
  }
}
