/**
 * The Postgres archive of realtime streams (docs/decisions/081-realtime-streams.md): `RealtimeStream`
 * (one row per run and key: listing, counters, how far it is archived, when it ended) and
 * `RealtimeStreamSegment` (many chunks per row, `<entry id> <json>` lines in id order).
 *
 * Archiving is incremental and idempotent: the archived-through id lives in the same row the segment
 * inserts commit with, and the row is locked while they are written, so two archivers (or one that
 * crashed after its commit and is retried) never store a chunk twice.
 *
 * `StreamArchiveSink` is the seam to the write path: today segments go straight to Postgres in bulk;
 * a buffered low-urgency write pipeline can implement the same interface later.
 */
import type { PrismaClient } from "@runfeed/database";
import { compareStreamEntryIds, parseStreamEntryId, type StreamEntryId } from "@runfeed/core";
import type { ChangedRunRow } from "../native/runSignals.server";
import type { StreamEntry, StreamRef } from "./streamStore.server";

export interface ArchivedStream {
  archived: StreamEntryId;
  endedAt: Date | null;
  chunkCount: number;
  byteCount: number;
}

export interface StreamSegment {
  first: StreamEntryId;
  last: StreamEntryId;
  chunkCount: number;
  /** `<id> <json>\n` per chunk. */
  entries: string;
  bytes: number;
}

/** Where archived segments go; see the module comment. */
export interface StreamArchiveSink {
  /**
   * Stores the segments after the stream's current archive point (segments at or before it are
   * dropped, so a retry is harmless) and marks the stream ended or not. Returns the chunks stored.
   */
  write(ref: StreamRef, segments: readonly StreamSegment[], ended: boolean): Promise<number>;
}

/** A segment holds at most this many chunks or bytes (whichever comes first). */
const SEGMENT_MAX_CHUNKS = 1_000;
const SEGMENT_MAX_BYTES = 1 << 20;

/** Cuts data entries (end markers are not archived: `endedAt` says it) into segments. */
export function toSegments(entries: readonly StreamEntry[]): StreamSegment[] {
  const segments: StreamSegment[] = [];
  let lines: string[] = [];
  let first: StreamEntryId | undefined;
  let last: StreamEntryId | undefined;
  let bytes = 0;
  const flush = () => {
    if (first && last && lines.length > 0)
      segments.push({ first, last, chunkCount: lines.length, entries: lines.join(""), bytes });
    lines = [];
    first = undefined;
    bytes = 0;
  };
  for (const entry of entries) {
    if (entry.data === undefined) continue;
    const id = parseStreamEntryId(entry.id);
    if (!id) continue;
    first ??= id;
    last = id;
    lines.push(`${entry.id} ${entry.data}\n`);
    bytes += Buffer.byteLength(entry.data);
    if (lines.length >= SEGMENT_MAX_CHUNKS || bytes >= SEGMENT_MAX_BYTES) flush();
  }
  flush();
  return segments;
}

export class PostgresArchiveSink implements StreamArchiveSink {
  constructor(private readonly prisma: PrismaClient) {}

  async write(ref: StreamRef, segments: readonly StreamSegment[], ended: boolean): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<Array<{ archivedMs: bigint; archivedSeq: bigint }>>`
        SELECT "archivedMs", "archivedSeq" FROM "RealtimeStream"
        WHERE "runId" = ${ref.runId} AND "key" = ${ref.key} FOR UPDATE`;
      const row = rows[0];
      if (!row) return 0;
      const through = { ms: Number(row.archivedMs), seq: Number(row.archivedSeq) };
      const fresh = segments.filter((s) => compareStreamEntryIds(s.first, through) > 0);
      const chunks = fresh.reduce((n, s) => n + s.chunkCount, 0);
      const bytes = fresh.reduce((n, s) => n + s.bytes, 0);
      if (fresh.length > 0) {
        await tx.$executeRaw`
          INSERT INTO "RealtimeStreamSegment" ("runId", "key", "lastMs", "lastSeq", "firstMs", "firstSeq", "chunkCount", "entries")
          SELECT ${ref.runId}, ${ref.key}, s.last_ms, s.last_seq, s.first_ms, s.first_seq, s.chunk_count, s.entries
          FROM unnest(${fresh.map((s) => String(s.last.ms))}::bigint[], ${fresh.map((s) => String(s.last.seq))}::bigint[],
                      ${fresh.map((s) => String(s.first.ms))}::bigint[], ${fresh.map((s) => String(s.first.seq))}::bigint[],
                      ${fresh.map((s) => s.chunkCount)}::int[], ${fresh.map((s) => s.entries)}::text[])
            AS s(last_ms, last_seq, first_ms, first_seq, chunk_count, entries)`;
      }
      const end = fresh.length > 0 ? fresh[fresh.length - 1]!.last : through;
      await tx.$executeRaw`
        UPDATE "RealtimeStream"
        SET "chunkCount" = "chunkCount" + ${chunks}, "byteCount" = "byteCount" + ${bytes},
            "archivedMs" = ${end.ms}, "archivedSeq" = ${end.seq},
            "archivedAt" = (now() AT TIME ZONE 'UTC'),
            "endedAt" = CASE WHEN ${ended} THEN COALESCE("endedAt", (now() AT TIME ZONE 'UTC')) ELSE NULL END
        WHERE "runId" = ${ref.runId} AND "key" = ${ref.key}`;
      return chunks;
    });
  }
}

/**
 * Lists the stream on its run, once: the `RealtimeStream` row and the key in `TaskRun.realtimeStreams`
 * (bumping `updatedAt`, so the run's feed tells subscribers the stream exists), in one statement.
 * Returns the run when its row changed (the caller signals it), undefined otherwise.
 * Input streams get a row only (they are not the run's output streams).
 */
export async function listStream(
  prisma: PrismaClient,
  ref: StreamRef,
  options: { onRun: boolean },
): Promise<ChangedRunRow | undefined> {
  if (!options.onRun) {
    await prisma.$executeRaw`
      INSERT INTO "RealtimeStream" ("runId", "key", "runtimeEnvironmentId")
      SELECT id, ${ref.key}, "runtimeEnvironmentId" FROM "TaskRun" WHERE id = ${ref.runId}
      ON CONFLICT DO NOTHING`;
    return undefined;
  }
  // The run as it is after the listing, when this call listed it (its channels, for the signal).
  const [changed] = await prisma.$queryRaw<ChangedRunRow[]>`
    WITH listed AS (
      INSERT INTO "RealtimeStream" ("runId", "key", "runtimeEnvironmentId")
      SELECT id, ${ref.key}, "runtimeEnvironmentId" FROM "TaskRun" WHERE id = ${ref.runId}
      ON CONFLICT DO NOTHING
    )
    UPDATE "TaskRun"
    SET "realtimeStreams" = array_append("realtimeStreams", ${ref.key}), "updatedAt" = (now() AT TIME ZONE 'UTC')
    WHERE id = ${ref.runId} AND NOT (${ref.key} = ANY("realtimeStreams"))
    RETURNING id, "runtimeEnvironmentId", "runTags", "batchId"`;
  return changed;
}

export async function archivedStream(prisma: PrismaClient, ref: StreamRef): Promise<ArchivedStream | undefined> {
  const rows = await prisma.$queryRaw<
    Array<{ archivedMs: bigint; archivedSeq: bigint; endedAt: Date | null; chunkCount: number; byteCount: bigint }>
  >`SELECT "archivedMs", "archivedSeq", "endedAt", "chunkCount", "byteCount" FROM "RealtimeStream"
    WHERE "runId" = ${ref.runId} AND "key" = ${ref.key}`;
  const row = rows[0];
  if (!row) return undefined;
  return {
    archived: { ms: Number(row.archivedMs), seq: Number(row.archivedSeq) },
    endedAt: row.endedAt,
    chunkCount: row.chunkCount,
    byteCount: Number(row.byteCount),
  };
}

/** Archived chunks after `after` (exclusive), a few segments at a time, in id order. */
export async function readArchive(
  prisma: PrismaClient,
  ref: StreamRef,
  after: StreamEntryId,
  segmentLimit = 8,
): Promise<StreamEntry[]> {
  const rows = await prisma.$queryRaw<Array<{ entries: string }>>`
    SELECT "entries" FROM "RealtimeStreamSegment"
    WHERE "runId" = ${ref.runId} AND "key" = ${ref.key} AND ("lastMs", "lastSeq") > (${after.ms}::bigint, ${after.seq}::bigint)
    ORDER BY "lastMs", "lastSeq" LIMIT ${segmentLimit}`;
  const out: StreamEntry[] = [];
  for (const row of rows) {
    for (const line of row.entries.split("\n")) {
      if (!line) continue;
      const space = line.indexOf(" ");
      const id = line.slice(0, space);
      const parsed = parseStreamEntryId(id);
      if (parsed && compareStreamEntryIds(parsed, after) > 0) out.push({ id, data: line.slice(space + 1) });
    }
  }
  return out;
}

/** Deletes streams (and their segments) that ended more than `retentionMs` ago; at most `limit` per call. */
export async function deleteExpiredStreams(prisma: PrismaClient, retentionMs: number, limit = 1_000): Promise<number> {
  return prisma.$executeRaw`
    DELETE FROM "RealtimeStream" WHERE ("runId", "key") IN (
      SELECT "runId", "key" FROM "RealtimeStream"
      WHERE "endedAt" < (now() AT TIME ZONE 'UTC') - make_interval(secs => ${retentionMs / 1000}::float8)
      LIMIT ${limit}
    )`;
}
