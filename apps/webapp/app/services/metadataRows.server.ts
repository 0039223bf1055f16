/**
 * What the metadata writes share (metadata.server.ts, metadataWriter.server.ts; the window also by the
 * write pipeline's apply): the row as read, the rules every write checks (completed-run window, size
 * limit) and the locked, all-or-nothing write of several rows.
 */
import {
  applyMetadataOperations,
  deepEqual,
  metadataByteLength,
  parseMetadataPacket,
  type MetadataObject,
  type MetadataOperation,
} from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import { unprocessable } from "./httpErrors.server";
import { runNotFound, type Db } from "./runLookup.server";
import { metadataTooLarge } from "./trigger.server";

/** Runs completed longer ago than this no longer accept metadata (upstream RUN_UPDATABLE_WINDOW_MS). */
export const RUN_UPDATABLE_WINDOW_MS = 60 * 60_000;
export const OPTIMISTIC_ATTEMPTS = 4;
/** How long an instance remembers a run's references / last metadata version (see point 2b). */
export const RUN_CACHE_DEFAULTS = { refTtlMs: 10 * 60_000, versionTtlMs: 60_000, maxEntries: 10_000 };

export interface MetadataRow {
  id: string;
  metadata: string | null;
  metadataType: string;
  metadataVersion: number;
}

export const METADATA_SELECT = { id: true, metadata: true, metadataType: true, metadataVersion: true } as const;

/** A row as read (verified) or as remembered from this instance's last read/write (cached). */
export type HintRow = MetadataRow & { cached?: boolean };

export interface RunRef {
  id: string;
  parentTaskRunId: string | null;
  rootTaskRunId: string | null;
}

/** Applies and serialises; `undefined` data means "nothing changed, don't write". */
export function compute(current: MetadataObject, operations: MetadataOperation[], maximumSize: number) {
  const { newMetadata } = applyMetadataOperations(current, operations);
  if (deepEqual(current, newMetadata)) return { metadata: current, data: undefined };
  const data = JSON.stringify(newMetadata);
  if (metadataByteLength(data) > maximumSize) throw metadataTooLarge(maximumSize);
  return { metadata: newMetadata, data };
}

export type Outcome = { ok: true; metadata: MetadataObject } | { ok: false; error: unknown };

export function assertUpdatable(completedAt: Date | null, cutoff: Date) {
  if (completedAt && completedAt < cutoff) throw unprocessable("Cannot update metadata for a completed run");
}

/** Locks every target row (in id order), applies, writes, commits: all or nothing. */
export async function updateLocked(
  prisma: PrismaClient,
  targets: Map<string, MetadataOperation[]>,
  maximumSize: number,
): Promise<Map<string, MetadataObject>> {
  const ids = [...targets.keys()].sort();
  return prisma.$transaction(
    async (tx) => {
      const rows = await lockRows(tx, ids);
      const results = new Map<string, MetadataObject>();
      for (const id of ids) {
        const row = rows.get(id);
        if (!row) throw runNotFound();
        const { metadata, data } = compute(
          parseMetadataPacket(row.metadata, row.metadataType),
          targets.get(id)!,
          maximumSize,
        );
        results.set(id, metadata);
        if (data === undefined) continue;
        await tx.taskRun.update({
          where: { id },
          data: {
            metadata: data,
            metadataType: "application/json",
            metadataVersion: { increment: 1 },
            updatedAt: new Date(),
          },
        });
      }
      return results;
    },
    { maxWait: 10_000, timeout: 15_000 },
  );
}

export async function lockRows(tx: Db, ids: string[]): Promise<Map<string, MetadataRow>> {
  const rows = await tx.$queryRaw<MetadataRow[]>`
    SELECT "id", "metadata", "metadataType", "metadataVersion" FROM "TaskRun"
    WHERE "id" = ANY(${ids}::text[]) ORDER BY "id" FOR UPDATE`;
  return new Map(rows.map((row) => [row.id, row]));
}
