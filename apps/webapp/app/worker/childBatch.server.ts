/**
 * Child batches for the worker's `ctx.batchTrigger`: one sealed BatchTaskRun plus its runs, written
 * through the same trigger service as the public API (services/trigger.server.ts), in one transaction.
 */
import { generateBatchFriendlyId } from "@runfeed/core";
import type { PrismaClient, RuntimeEnvironment, TaskRun } from "@runfeed/database";
import { triggerRunInTransaction } from "../services/trigger.server";

/**
 * Child runs of `parent` as one batch. The batch's idempotency key is derived from the parent and
 * the task, so a parent that is re-executed after a restart gets its first batch back.
 */
export async function createChildBatch(
  prisma: PrismaClient,
  parent: Pick<TaskRun, "id" | "friendlyId" | "runtimeEnvironmentId">,
  environment: Pick<RuntimeEnvironment, "id" | "projectId" | "type">,
  taskIdentifier: string,
  items: Array<{ payload: unknown; tags?: string[] }>,
  metadataMaximumSize: number,
): Promise<{ batchId: string; runIds: string[] }> {
  const idempotencyKey = `children:${parent.id}:${taskIdentifier}`;
  return prisma.$transaction(
    async (tx) => {
      const existing = await tx.batchTaskRun.findUnique({
        where: {
          runtimeEnvironmentId_idempotencyKey: { runtimeEnvironmentId: parent.runtimeEnvironmentId, idempotencyKey },
        },
        include: { runs: { select: { friendlyId: true }, orderBy: { createdAt: "asc" } } },
      });
      if (existing) return { batchId: existing.friendlyId, runIds: existing.runs.map((r) => r.friendlyId) };
      const batch = await tx.batchTaskRun.create({
        data: {
          friendlyId: generateBatchFriendlyId(),
          runtimeEnvironmentId: parent.runtimeEnvironmentId,
          runCount: items.length,
          acceptedIndexes: items.map((_, index) => index),
          sealed: true,
          idempotencyKey,
          parentRunId: parent.id,
        },
      });
      const runIds: string[] = [];
      for (const item of items) {
        const { run } = await triggerRunInTransaction(tx, {
          environment,
          taskId: taskIdentifier,
          body: { payload: item.payload, options: { tags: item.tags, parentRunId: parent.friendlyId, ttl: 0 } },
          batchId: batch.id,
          metadataMaximumSize,
        });
        runIds.push(run.friendlyId);
      }
      return { batchId: batch.friendlyId, runIds };
    },
    { timeout: 30_000 },
  );
}
