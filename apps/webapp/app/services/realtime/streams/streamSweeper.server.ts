/**
 * Ends, archives and deletes realtime streams (docs/decisions/081-realtime-streams.md). The state it
 * acts on is data, not timers: the open set in Redis (score = a stream's last sign of life), the runs'
 * `completedAt` in Postgres, the archive queue in Redis and `endedAt` in Postgres. Each tick (on one
 * instance at a time, by a short Redis lock; running it twice is harmless, every step is idempotent):
 *
 * 1. an open stream whose run has finished (or is gone) ends for good: later writes are refused;
 * 2. an open stream with no writer connected and no chunk for the idle timeout ends (its writer died,
 *    or stopped without its run finishing); a later write reopens it;
 * 3. ended streams are archived to Postgres in bulk, then Redis keeps them for a grace period only;
 * 4. archived streams older than the retention are deleted.
 *
 * A scheduled job per stream would be rescheduled at every chunk; a sweep over sorted sets costs one
 * range read per tick instead, and survives any instance's crash because nothing lives in memory.
 */
import { randomUUID } from "node:crypto";
import type { PrismaClient } from "@runfeed/database";
import type { Logger } from "../../logger.server";
import {
  archivedStream,
  deleteExpiredStreams,
  listStream,
  type StreamArchiveSink,
  toSegments,
} from "./streamArchive.server";
import { parseStreamMember, type StreamRef, type StreamStore } from "./streamStore.server";

export interface StreamSweeperOptions {
  store: StreamStore;
  sink: StreamArchiveSink;
  prisma: PrismaClient;
  logger: Logger;
  idleTimeoutMs: number;
  retentionMs: number;
  intervalMs: number;
  /** How long Redis keeps an archived stream for readers still connected. */
  graceMs?: number;
  onArchived?: (chunks: number) => void;
}

export interface SweepReport {
  endedFinished: number;
  endedIdle: number;
  archivedStreams: number;
  archivedChunks: number;
  deleted: number;
}

const OPEN_PAGE = 10_000;
const ARCHIVE_PAGE = 10_000;
const ARCHIVE_BATCH = 100;
const ARCHIVE_LEASE_MS = 60_000;
/** Streams archived at once (each is a few Redis reads and one Postgres transaction). */
const ARCHIVE_CONCURRENCY = 8;
/** Longest one tick keeps archiving before the next tick ends streams again. */
const ARCHIVE_BUDGET_MS = 5_000;
const RETENTION_EVERY_MS = 60_000;

export class StreamSweeper {
  readonly #options: StreamSweeperOptions & { graceMs: number };
  readonly #instance = randomUUID();
  readonly #lockKey: string;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #lastRetention = 0;

  constructor(options: StreamSweeperOptions) {
    this.#options = { graceMs: 60_000, ...options };
    this.#lockKey = `${options.store.openSet}:sweep-lock`;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.#tick(), this.#options.intervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  async #tick() {
    if (this.#running) return;
    const lockMs = Math.max(100, this.#options.intervalMs - 50);
    this.#running = (async () => {
      const locked = await this.#options.store.redis.set(this.#lockKey, this.#instance, "PX", lockMs, "NX");
      if (locked) await this.sweep();
    })()
      .catch((error: unknown) =>
        this.#options.logger.warn({ err: (error as Error).message }, "stream sweep failed; retrying next tick"),
      )
      .finally(() => {
        this.#running = undefined;
      });
    await this.#running;
  }

  /** One pass of steps 1–4 (tests call it directly). */
  async sweep(): Promise<SweepReport> {
    const report: SweepReport = { endedFinished: 0, endedIdle: 0, archivedStreams: 0, archivedChunks: 0, deleted: 0 };
    await this.#endStreams(report);
    await this.#archiveDue(report);
    const now = Date.now();
    if (now - this.#lastRetention >= RETENTION_EVERY_MS) {
      this.#lastRetention = now;
      report.deleted = await deleteExpiredStreams(this.#options.prisma, this.#options.retentionMs);
    }
    if (report.endedFinished + report.endedIdle + report.archivedStreams + report.deleted > 0)
      this.#options.logger.info(report, "streams swept");
    return report;
  }

  async #endStreams(report: SweepReport) {
    const { store, prisma, idleTimeoutMs, retentionMs } = this.#options;
    const flat = await store.redis.zrange(store.openSet, 0, OPEN_PAGE - 1, "WITHSCORES");
    if (flat.length === 0) return;
    const open: Array<{ ref: StreamRef; score: number }> = [];
    for (let i = 0; i < flat.length; i += 2)
      open.push({ ref: parseStreamMember(flat[i]!), score: Number(flat[i + 1]) });
    const runIds = [...new Set(open.map((o) => o.ref.runId))];
    const live = await prisma.$queryRaw<Array<{ id: string }>>`
      SELECT id FROM "TaskRun" WHERE id = ANY(${runIds}) AND "completedAt" IS NULL`;
    const running = new Set(live.map((r) => r.id));
    const idleBefore = (await store.redisTimeMs()) - idleTimeoutMs;
    // Issued together: the store's connection pipelines them.
    await Promise.all(
      open.map(async ({ ref, score }) => {
        if (!running.has(ref.runId)) {
          if (await store.end(ref, "finished", 0, retentionMs)) report.endedFinished++;
        } else if (score <= idleBefore) {
          if (await store.end(ref, "idle", idleBefore, retentionMs)) report.endedIdle++;
        }
      }),
    );
  }

  /** Archives what is due, a few streams at a time, until nothing is due or the tick's budget is spent. */
  async #archiveDue(report: SweepReport) {
    const { store } = this.#options;
    const deadline = Date.now() + ARCHIVE_BUDGET_MS;
    while (Date.now() < deadline) {
      const due = await store.redis.zrangebyscore(
        store.archiveQueue,
        "-inf",
        await store.redisTimeMs(),
        "LIMIT",
        0,
        ARCHIVE_BATCH,
      );
      if (due.length === 0) return;
      let next = 0;
      const worker = async () => {
        while (next < due.length) {
          const member = due[next++]!;
          if (!(await store.claimArchive(member, ARCHIVE_LEASE_MS))) continue;
          const chunks = await this.archive(parseStreamMember(member));
          report.archivedStreams++;
          report.archivedChunks += chunks;
        }
      };
      await Promise.all(Array.from({ length: ARCHIVE_CONCURRENCY }, worker));
    }
  }

  /** Copies what Redis holds of the stream beyond its archive point to Postgres; returns the chunks copied. */
  async archive(ref: StreamRef): Promise<number> {
    const { store, sink, prisma } = this.#options;
    const meta = await store.meta(ref);
    const ended = meta ? meta.state !== "open" : true;
    await listStream(prisma, ref, { onRun: false });
    const archived = await archivedStream(prisma, ref);
    let cursor = archived ? `${archived.archived.ms}-${archived.archived.seq}` : "0-0";
    let chunks = 0;
    for (;;) {
      const entries = await store.range(ref, cursor, ARCHIVE_PAGE);
      const last = entries.length < ARCHIVE_PAGE;
      chunks += await sink.write(ref, toSegments(entries), ended && last);
      if (last) break;
      cursor = entries[entries.length - 1]!.id;
    }
    await store.markArchived(ref, this.#options.graceMs);
    this.#options.onArchived?.(chunks);
    return chunks;
  }
}
