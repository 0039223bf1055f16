/**
 * Metadata writes from inside tasks (`ctx.metadata.*`, `ctx.metadata.parent.*`): operations applied
 * with the core semantics (`applyMetadataOperations`) under optimistic concurrency on
 * `metadataVersion`, so concurrent children incrementing one parent never lose an update.
 */
import { applyMetadataOperations, parseMetadataPacket, type MetadataObject, type MetadataOperation } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";

const MAX_ATTEMPTS = 20;

export class MetadataConflictError extends Error {
  override name = "MetadataConflictError";
}

export async function applyRunMetadata(
  prisma: PrismaClient,
  runId: string,
  operations: MetadataOperation[],
): Promise<MetadataObject> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const run = await prisma.taskRun.findUnique({
      where: { id: runId },
      select: { metadata: true, metadataType: true, metadataVersion: true },
    });
    if (!run) throw new Error(`Run ${runId} not found`);
    const { newMetadata } = applyMetadataOperations(parseMetadataPacket(run.metadata, run.metadataType), operations);
    const { count } = await prisma.taskRun.updateMany({
      where: { id: runId, metadataVersion: run.metadataVersion },
      data: { metadata: JSON.stringify(newMetadata), metadataType: "application/json", metadataVersion: { increment: 1 } },
    });
    if (count === 1) return newMetadata;
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * (attempt + 1)));
  }
  throw new MetadataConflictError(`Metadata of run ${runId} kept changing; gave up after ${MAX_ATTEMPTS} attempts.`);
}
