/**
 * Two-phase batch trigger (realtime-contract §6.2, checklist #39).
 *
 * Phase 1 creates the BatchTaskRun (idempotent on `idempotencyKey`). Phase 2 receives NDJSON items;
 * the batch row is locked for the whole request, items whose index was already accepted are counted
 * as de-duplicated (the SDK retries the whole stream when `sealed` is false), and every new item
 * becomes a run with `batchId` set — all in one transaction, so a bad item leaves no runs behind.
 * Items are validated first and the new runs written by one multi-row INSERT (runInsert.server.ts), the
 * whole transaction on a connection of the services' pg pool.
 */
import { BatchItemNDJSON, generateBatchFriendlyId, type CreateBatchRequestBody } from "@runfeed/core";
import type { BatchTaskRun, PrismaClient } from "@runfeed/database";
import type pg from "pg";
import { validate } from "./apiRoute.server";
import type { AuthenticatedEnvironment } from "./auth.server";
import { HttpError, badRequest, notFound } from "./httpErrors.server";
import { isUniqueViolation } from "./runLookup.server";
import { INSERT_MANY_SQL, insertManyParams, type NewRun } from "./runInsert.server";
import { type RunChangePublisher, runChangedOf } from "./realtime/native/runSignals.server";
import { timestampParam } from "./realtime/shapeRewrite.server";
import { prepareRun, type ParentCache } from "./trigger.server";
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
  /** Services.sqlPool: the transaction runs on one of its connections, every statement prepared. */
  pool: pg.Pool,
  environment: AuthenticatedEnvironment,
  batchFriendlyId: string,
  items: BatchItemNDJSON[],
  metadataMaximumSize: number,
  /** The realtime feeds hear of the new runs once they are committed. */
  signals?: RunChangePublisher,
): Promise<StreamItemsResult> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const locked = await client.query<{ id: string; runCount: number; acceptedIndexes: number[] | null }>({
      name: "batch-items-lock",
      text: `SELECT "id", "runCount", "acceptedIndexes" FROM "BatchTaskRun"
             WHERE "friendlyId" = $1 AND "runtimeEnvironmentId" = $2 FOR UPDATE`,
      values: [batchFriendlyId, environment.id],
    });
    const batch = locked.rows[0];
    if (!batch) throw notFound("Batch not found");
    const accepted = new Set(batch.acceptedIndexes ?? []);
    let itemsAccepted = 0;
    let itemsDeduplicated = 0;
    // Every item is validated and looked up first (reads only, committed rows as the transaction would
    // see them), then all new runs are inserted by one statement. An idempotency key used twice in the
    // request: the later item is the earlier one's run, as when items were created one by one.
    const parents: ParentCache = new Map();
    const newRuns: NewRun[] = [];
    const releases: string[] = [];
    const keysSeen = new Set<string>();
    for (const item of items) {
      if (item.index >= batch.runCount) {
        throw badRequest(`Invalid batch item: index ${item.index} is out of range for a batch of ${batch.runCount}`);
      }
      if (accepted.has(item.index)) {
        itemsDeduplicated++;
        continue;
      }
      accepted.add(item.index);
      itemsAccepted++;
      const key = item.options?.idempotencyKey;
      if (key && keysSeen.has(`${item.task}\0${key}`)) continue;
      // Two items with one debounce key: the later joins the earlier's run, which is not written yet.
      const debounceKey = item.options?.debounce?.key;
      if (debounceKey && keysSeen.has(`${item.task}\0debounce\0${debounceKey}`)) continue;
      const prepared = await prepareRun(
        prisma,
        {
          environment,
          taskId: item.task,
          body: { payload: item.payload, options: item.options },
          batchId: batch.id,
          metadataMaximumSize,
        },
        parents,
      );
      if (prepared.kind === "cached") continue;
      newRuns.push(prepared.row);
      if (prepared.releaseKeyOf) releases.push(prepared.releaseKeyOf);
      if (key) keysSeen.add(`${item.task}\0${key}`);
      if (debounceKey) keysSeen.add(`${item.task}\0debounce\0${debounceKey}`);
    }
    if (releases.length > 0)
      await client.query({
        name: "batch-items-release-keys",
        text: `UPDATE "TaskRun" SET "idempotencyKey" = NULL, "idempotencyKeyExpiresAt" = NULL WHERE "id" = ANY($1::text[])`,
        values: [releases],
      });
    if (newRuns.length > 0)
      await client.query({ name: "batch-items-insert", text: INSERT_MANY_SQL, values: insertManyParams(newRuns) });
    const sealed = accepted.size >= batch.runCount;
    await client.query({
      name: "batch-items-accept",
      text: `UPDATE "BatchTaskRun" SET "acceptedIndexes" = $1::int[], "sealed" = $2, "updatedAt" = $3::timestamp WHERE "id" = $4`,
      values: [[...accepted].sort((a, b) => a - b), sealed, timestampParam(new Date()), batch.id],
    });
    await client.query("COMMIT");
    signals?.publishRunsChanged(newRuns.map(runChangedOf));
    await armDelayTimers(prisma, newRuns);
    return {
      id: batchFriendlyId,
      itemsAccepted,
      itemsDeduplicated,
      sealed,
      ...(sealed ? {} : { enqueuedCount: accepted.size, expectedCount: batch.runCount }),
    };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    // A concurrent trigger took an item's idempotency key mid-transaction: nothing was written; retryable.
    if ((error as { code?: string }).code === "23505")
      throw new HttpError(409, { error: "Conflicting concurrent trigger, retry the request" });
    throw error;
  } finally {
    client.release();
  }
}
