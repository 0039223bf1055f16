/**
 * Cancel and replay (realtime-contract §6.6, checklist #44).
 */
import { defaultQueueName } from "../engine/queues.server";
import { FINAL_RUN_STATUSES, type ReplayRunRequestBody, type TaskRunStatus } from "@runfeed/core";
import type { PrismaClient, TaskRun } from "@runfeed/database";
import type { AuthenticatedEnvironment } from "./auth.server";
import { triggerRun } from "./trigger.server";

/**
 * Sets CANCELED + completedAt unless the run already reached a final state (then it is left alone,
 * as upstream does, and the answer is the same `{id}`).
 */
export async function cancelRun(prisma: PrismaClient, run: TaskRun): Promise<void> {
  const now = new Date();
  await prisma.taskRun.updateMany({
    where: { id: run.id, status: { notIn: FINAL_RUN_STATUSES as TaskRunStatus[] } },
    data: { status: "CANCELED", completedAt: now, updatedAt: now },
  });
}

/** A new run of the same task with the original's payload, tags, metadata and queue, unless overridden. */
export async function replayRun(
  prisma: PrismaClient,
  environment: AuthenticatedEnvironment,
  original: TaskRun,
  body: ReplayRunRequestBody | undefined,
  metadataMaximumSize: number,
): Promise<TaskRun> {
  const overrides = body ?? {};
  const payload = overrides.payload === undefined ? original.payload : overrides.payload;
  const payloadType =
    overrides.payload === undefined ? original.payloadType : (overrides.payloadType ?? "application/json");
  const { run } = await triggerRun(prisma, {
    environment,
    taskId: original.taskIdentifier,
    body: {
      payload: typeof payload === "string" ? payload : JSON.stringify(payload),
      options: {
        payloadType,
        tags: overrides.tags ?? original.runTags ?? [],
        metadata: overrides.metadata ?? (original.metadata ? safeParse(original.metadata) : undefined),
        queue: { name: overrides.queue ?? original.queue ?? defaultQueueName(original.taskIdentifier) },
        concurrencyKey: overrides.concurrencyKey ?? original.concurrencyKey ?? undefined,
        maxAttempts: overrides.maxAttempts ?? original.maxAttempts ?? undefined,
        delay: overrides.delay,
        ttl: overrides.ttl ?? original.ttl ?? undefined,
        idempotencyKey: overrides.idempotencyKey,
        idempotencyKeyTTL: overrides.idempotencyKeyTTL,
        test: original.isTest,
      },
    },
    replayedFromTaskRunId: original.id,
    metadataMaximumSize,
  });
  return run;
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
