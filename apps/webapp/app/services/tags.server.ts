/**
 * `POST /api/v1/runs/:runId/tags` (realtime-contract §6.5, checklist #43): adds de-duplicated tags,
 * at most 10 per run, bumping `updatedAt` so tag feeds see the run. The row is locked while the new
 * set is computed, so two concurrent adds can neither exceed the limit nor drop each other's tags.
 */
import type { ChangedRunRow } from "./realtime/native/runSignals.server";
import { MAX_TAGS_PER_RUN, normalizeTags } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import { unprocessable } from "./httpErrors.server";
import { runNotFound } from "./runLookup.server";

export async function addRunTags(
  prisma: PrismaClient,
  environmentId: string,
  runParam: string,
  requested: string | string[],
): Promise<{ message: string; changed?: ChangedRunRow }> {
  const tags = normalizeTags(requested);
  return prisma.$transaction(async (tx) => {
    const column = runParam.startsWith("run_") ? "friendlyId" : "id";
    const rows = await tx.$queryRawUnsafe<Array<{ id: string; runTags: string[] | null; batchId: string | null }>>(
      `SELECT "id", "runTags", "batchId" FROM "TaskRun" WHERE "${column}" = $1 AND "runtimeEnvironmentId" = $2 FOR UPDATE`,
      runParam,
      environmentId,
    );
    const run = rows[0];
    if (!run) throw runNotFound();
    if (tags.length === 0) return { message: "No new tags to add" };
    const existing = run.runTags ?? [];
    const added = tags.filter((tag) => !existing.includes(tag));
    if (added.length === 0) return { message: "No new tags to add" };
    const total = existing.length + added.length;
    if (total > MAX_TAGS_PER_RUN) {
      throw unprocessable(
        `Runs can only have ${MAX_TAGS_PER_RUN} tags, you're trying to set ${total}. These tags are already set: ${existing.join(", ")}.`,
      );
    }
    const runTags = [...existing, ...added];
    await tx.taskRun.update({ where: { id: run.id }, data: { runTags, updatedAt: new Date() } });
    return {
      message: `Successfully set ${added.length} new tags.`,
      changed: { id: run.id, runtimeEnvironmentId: environmentId, runTags, batchId: run.batchId },
    };
  });
}
