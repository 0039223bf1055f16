/**
 * RunMetadataWriter: this instance's queue of metadata writes per run, its remembered references and
 * versions, and its grouped versioned UPDATEs — points 2, 2b, 2c and 3 of metadata.server.ts's header.
 */
import { parseMetadataPacket, type MetadataObject, type MetadataOperation } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import { HttpError } from "./httpErrors.server";
import {
  METADATA_SELECT,
  OPTIMISTIC_ATTEMPTS,
  RUN_CACHE_DEFAULTS,
  assertUpdatable,
  compute,
  lockRows,
  type HintRow,
  type MetadataRow,
  type Outcome,
  type RunRef,
} from "./metadataRows.server";
import type { RunChangePublisher } from "./realtime/native/runSignals.server";
import { runNotFound } from "./runLookup.server";
import { TtlCache } from "./ttlCache.server";
import { WriteBuffer, type FlushWrites } from "./writeBuffer.server";

interface Waiter {
  operations: MetadataOperation[];
  hint: HintRow;
  cutoff: Date;
  resolve(metadata: MetadataObject): void;
  reject(error: unknown): void;
}

export interface RunMetadataWriterOptions {
  prisma: PrismaClient;
  /** TASK_RUN_METADATA_MAXIMUM_SIZE: serialised bytes a run's metadata may take. */
  maximumSize: number;
  /** How the grouped versioned UPDATEs are written (writeBuffer.server.ts: pgFlush). */
  flush: FlushWrites;
  cache?: typeof RUN_CACHE_DEFAULTS;
  /** Every committed write is signalled to the realtime feeds (docs/decisions/073-realtime-notifier-backend.md). */
  signals?: RunChangePublisher;
}

/**
 * Per-instance queue of metadata writes per run (see the header comment, point 2). One per app
 * instance (Services.metadataWriter), so separate instances (tests) never share one.
 */
export class RunMetadataWriter {
  readonly prisma: PrismaClient;
  readonly maximumSize: number;
  readonly signals: RunChangePublisher | undefined;
  readonly #queues = new Map<string, Waiter[]>();
  /** `${environmentId}:${runParam}` → the run's fixed references (point 2b). */
  readonly #refs: TtlCache<RunRef>;
  /** run id → the last metadata version this instance read or wrote (point 2b). */
  readonly #versions: TtlCache<MetadataRow>;
  readonly #buffer: WriteBuffer;

  constructor(options: RunMetadataWriterOptions) {
    const cache = options.cache ?? RUN_CACHE_DEFAULTS;
    this.prisma = options.prisma;
    this.maximumSize = options.maximumSize;
    this.signals = options.signals;
    this.#refs = new TtlCache({ ttlMs: cache.refTtlMs, maxEntries: cache.maxEntries });
    this.#versions = new TtlCache({ ttlMs: cache.versionTtlMs, maxEntries: cache.maxEntries });
    this.#buffer = new WriteBuffer(options.flush);
  }

  remember(environmentId: string, runParam: string, run: MetadataRow & RunRef) {
    const { id, parentTaskRunId, rootTaskRunId, metadata, metadataType, metadataVersion } = run;
    this.#refs.set(`${environmentId}:${runParam}`, { id, parentTaskRunId, rootTaskRunId });
    this.#versions.set(id, { id, metadata, metadataType, metadataVersion });
  }

  remembered(environmentId: string, runParam: string): (HintRow & RunRef) | undefined {
    const ref = this.#refs.peek(`${environmentId}:${runParam}`);
    const row = ref && this.#versions.peek(ref.id);
    return row ? { ...ref, ...row, cached: true } : undefined;
  }

  submit(row: HintRow, operations: MetadataOperation[], cutoff: Date): Promise<MetadataObject> {
    return new Promise((resolve, reject) => {
      const waiter = { operations, hint: row, cutoff, resolve, reject };
      const queue = this.#queues.get(row.id);
      if (queue) {
        queue.push(waiter);
        return;
      }
      this.#queues.set(row.id, [waiter]);
      void this.#drain(row.id);
    });
  }

  async #drain(runId: string) {
    const queue = this.#queues.get(runId)!;
    while (queue.length > 0) {
      const batch = queue.splice(0, queue.length);
      try {
        await this.#write(runId, batch);
      } catch (error) {
        for (const waiter of batch) waiter.reject(error);
      }
    }
    this.#queues.delete(runId);
  }

  async #write(runId: string, batch: Waiter[]) {
    // Start from the freshest row any waiter read; stale hints only cost a conflict and a re-read.
    let row: HintRow | null = batch.reduce(
      (a, w) => (w.hint.metadataVersion > a.metadataVersion ? w.hint : a),
      batch[0]!.hint,
    );
    const cutoff = batch[0]!.cutoff;
    for (let attempt = 0; attempt < OPTIMISTIC_ATTEMPTS; attempt++) {
      if (!row) throw runNotFound();
      const plan = this.#plan(row, batch);
      if (plan.data === undefined) {
        if (!row.cached) return this.#settle(batch, plan.outcomes);
        row = await this.#read(runId, cutoff); // "nothing to change" is only ever decided on a fresh read
        continue;
      }
      // The versioned UPDATE, grouped with other runs' writes into one statement (writeBuffer.server.ts).
      if (await this.#buffer.write({ id: runId, data: plan.data, version: row.metadataVersion, cutoff })) {
        this.#versions.set(runId, {
          id: runId,
          metadata: plan.data,
          metadataType: "application/json",
          metadataVersion: row.metadataVersion + 1,
        });
        this.signals?.publishRunIdsChanged([runId]);
        return this.#settle(batch, plan.outcomes);
      }
      this.#versions.delete(runId);
      row = await this.#read(runId, cutoff);
    }
    // Still contended (another instance): take the row lock.
    this.#versions.delete(runId);
    const outcomes = await this.prisma.$transaction(
      async (tx) => {
        const locked = (await lockRows(tx, [runId])).get(runId);
        if (!locked) throw runNotFound();
        const plan = this.#plan(locked, batch);
        if (plan.data !== undefined) {
          await tx.taskRun.update({
            where: { id: runId },
            data: {
              metadata: plan.data,
              metadataType: "application/json",
              metadataVersion: { increment: 1 },
              updatedAt: new Date(),
            },
          });
        }
        return plan.outcomes;
      },
      { maxWait: 10_000, timeout: 15_000 },
    );
    this.signals?.publishRunIdsChanged([runId]);
    this.#settle(batch, outcomes);
  }

  /** A fresh row (remembered as the latest version), or null when gone; 422 when completed past the window. */
  async #read(runId: string, cutoff: Date): Promise<MetadataRow | null> {
    const row = await this.prisma.taskRun.findUnique({
      where: { id: runId },
      select: { ...METADATA_SELECT, completedAt: true },
    });
    if (!row) return null;
    assertUpdatable(row.completedAt, cutoff);
    const { completedAt: _, ...fresh } = row;
    this.#versions.set(runId, fresh);
    return fresh;
  }

  /** Applies each waiter's operations in order; a waiter that fails (413) is skipped alone. */
  #plan(row: MetadataRow, batch: Waiter[]) {
    const initial = parseMetadataPacket(row.metadata, row.metadataType);
    let current = initial;
    const outcomes: Outcome[] = [];
    for (const waiter of batch) {
      try {
        const { metadata } = compute(current, waiter.operations, this.maximumSize);
        current = metadata;
        outcomes.push({ ok: true, metadata });
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        outcomes.push({ ok: false, error });
      }
    }
    const data = current === initial ? undefined : JSON.stringify(current);
    return { data, outcomes };
  }

  #settle(batch: Waiter[], outcomes: Outcome[]) {
    batch.forEach((waiter, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) waiter.resolve(outcome.metadata);
      else waiter.reject(outcome.error);
    });
  }
}
