/**
 * Run metadata writes and reads (realtime-contract §6.3, checklist #40–#42): the direct path's entry
 * points. The per-instance writer is metadataWriter.server.ts; the row, the rules and the locked
 * multi-row write they share are metadataRows.server.ts.
 *
 * Concurrency — why no increment is ever lost:
 * 1. Every write is `UPDATE … SET metadata = $new, "metadataVersion" = "metadataVersion" + 1
 *    WHERE id = $id AND "metadataVersion" = $v` (optimistic concurrency). A write computed from a stale
 *    read changes 0 rows and is recomputed from a fresh read, so two writers can never both win
 *    from the same version — across any number of webapp instances.
 * 2. Within one instance, requests for the same run are queued (RunMetadataWriter): while a write for a
 *    run is in flight, newly arriving requests wait, then the whole queue is applied in arrival order to
 *    one fresh read and written with ONE versioned UPDATE. Each request still gets its own result (the
 *    metadata right after its own operations) and its own 413; a request whose operations would exceed
 *    the size limit is rejected alone and the others are unaffected. This turns N contending writers
 *    into ~1 statement per round instead of N-1 conflicts per round.
 * 2b. Each instance remembers, per run it has read or written, the run's references (id, parent, root:
 *    fixed for the run's life) and the last metadata version it saw (RunMetadataWriter's caches). A
 *    request for such a run whose operations all land on the run itself skips the read: it is computed
 *    from the remembered version, and the versioned UPDATE also requires the run not to be completed
 *    past the window. Zero rows changed (someone else wrote, or the run completed, or was deleted) →
 *    a fresh read, which re-applies every check, and the usual retry. A request that would change
 *    nothing is answered from a fresh read, never from memory. So a remembered version only ever saves
 *    the read; it never decides an answer.
 * 2c. The versioned UPDATEs of all runs go through one WriteBuffer: writes that arrive while a statement
 *    is in flight are written together by the next one (one round trip and one commit), each still
 *    under its own version check.
 * 3. If the versioned UPDATE keeps losing (another instance is writing the same run), after
 *    OPTIMISTIC_ATTEMPTS the queue falls back to a short transaction that takes the row lock
 *    (`SELECT … FOR UPDATE`), applies, writes and commits: guaranteed progress.
 *
 * `parentOperations`/`rootOperations` go to the parent/root run (the run itself when it has none).
 * A request that touches more than one row is written in one locked transaction (rows locked in id
 * order, so such requests cannot deadlock each other), so a failure (e.g. 413 on the parent) leaves
 * every row as it was. Every write bumps `updatedAt`, which is what the realtime feeds see.
 */
import {
  parseMetadataPacket,
  type MetadataObject,
  type MetadataOperation,
  type UpdateMetadataRequestBody,
} from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import {
  METADATA_SELECT,
  RUN_UPDATABLE_WINDOW_MS,
  assertUpdatable,
  updateLocked,
  type MetadataRow,
} from "./metadataRows.server";
import type { RunMetadataWriter } from "./metadataWriter.server";
import { runNotFound, runWhere } from "./runLookup.server";

export interface MetadataUpdateOptions {
  now?: () => Date;
}

export async function getRunMetadata(
  prisma: PrismaClient,
  environmentId: string,
  runParam: string,
): Promise<MetadataObject> {
  const run = await prisma.taskRun.findFirst({ where: runWhere(environmentId, runParam), select: METADATA_SELECT });
  if (!run) throw runNotFound();
  return parseMetadataPacket(run.metadata, run.metadataType);
}

/** Applies `body` to the run through this instance's writer (Services.metadataWriter). */
export async function updateRunMetadata(
  writer: RunMetadataWriter,
  environmentId: string,
  runParam: string,
  body: UpdateMetadataRequestBody,
  options: MetadataUpdateOptions = {},
): Promise<MetadataObject> {
  const { prisma, maximumSize } = writer;
  const now = options.now ?? (() => new Date());
  const cutoff = new Date(now().getTime() - RUN_UPDATABLE_WINDOW_MS);
  // `metadata` alone (legacy/direct path) is a whole replacement; `{}` is ignored as upstream does.
  const ownOperations: MetadataOperation[] =
    body.operations ??
    (body.metadata && Object.keys(body.metadata).length > 0 ? [{ type: "update", value: body.metadata }] : []);

  // Hottest path (the SDK flushes about once a second per running task): a run this instance knows,
  // every operation on the run itself → no read, one versioned UPDATE (header, point 2b).
  const known = writer.remembered(environmentId, runParam);
  const onItself = (ops: MetadataOperation[] | undefined, target: string | null) => !ops?.length || target === null;
  if (
    known &&
    ownOperations.length > 0 &&
    onItself(body.parentOperations, known.parentTaskRunId) &&
    onItself(body.rootOperations, known.rootTaskRunId)
  ) {
    return writer.submit(
      known,
      [...ownOperations, ...(body.parentOperations ?? []), ...(body.rootOperations ?? [])],
      cutoff,
    );
  }

  // Otherwise one plain SQL read.
  const column = runParam.startsWith("run_") ? `"friendlyId"` : `"id"`;
  const [run] = await prisma.$queryRawUnsafe<
    Array<MetadataRow & { completedAt: Date | null; parentTaskRunId: string | null; rootTaskRunId: string | null }>
  >(
    `SELECT "id", "metadata", "metadataType", "metadataVersion", "completedAt", "parentTaskRunId", "rootTaskRunId"
     FROM "TaskRun" WHERE ${column} = $1 AND "runtimeEnvironmentId" = $2`,
    runParam,
    environmentId,
  );
  if (!run) throw runNotFound();
  assertUpdatable(run.completedAt, cutoff);
  writer.remember(environmentId, runParam, run);

  // Group by target row, keeping request order: own, then parent, then root operations.
  const targets = new Map<string, MetadataOperation[]>([[run.id, [...ownOperations]]]);
  const route = (id: string, ops: MetadataOperation[] | undefined) => {
    if (!ops?.length) return;
    targets.set(id, [...(targets.get(id) ?? []), ...ops]);
  };
  route(run.parentTaskRunId ?? run.id, body.parentOperations);
  route(run.rootTaskRunId ?? run.id, body.rootOperations);

  if (targets.size === 1) {
    const operations = targets.get(run.id)!;
    if (operations.length === 0) return parseMetadataPacket(run.metadata, run.metadataType);
    return writer.submit(run, operations, cutoff);
  }
  const results = await updateLocked(prisma, targets, maximumSize);
  writer.signals?.publishRunIdsChanged([...targets.keys()]);
  return results.get(run.id)!;
}
