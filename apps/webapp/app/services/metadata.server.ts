/**
 * Run metadata writes and reads (realtime-contract §6.3, checklist #40–#42).
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
import type { RunChangePublisher } from "./realtime/native/runSignals.server";
import {
  applyMetadataOperations,
  deepEqual,
  metadataByteLength,
  parseMetadataPacket,
  type MetadataObject,
  type MetadataOperation,
  type UpdateMetadataRequestBody,
} from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import { HttpError, unprocessable } from "./httpErrors.server";
import { TtlCache } from "./ttlCache.server";
import { WriteBuffer, type FlushWrites } from "./writeBuffer.server";
import { runNotFound, runWhere, type Db } from "./runLookup.server";
import { metadataTooLarge } from "./trigger.server";

/** Runs completed longer ago than this no longer accept metadata (upstream RUN_UPDATABLE_WINDOW_MS). */
export const RUN_UPDATABLE_WINDOW_MS = 60 * 60_000;
export const OPTIMISTIC_ATTEMPTS = 4;
/** How long an instance remembers a run's references / last metadata version (see point 2b). */
export const RUN_CACHE_DEFAULTS = { refTtlMs: 10 * 60_000, versionTtlMs: 60_000, maxEntries: 10_000 };

interface MetadataRow {
  id: string;
  metadata: string | null;
  metadataType: string;
  metadataVersion: number;
}

const METADATA_SELECT = { id: true, metadata: true, metadataType: true, metadataVersion: true } as const;

/** A row as read (verified) or as remembered from this instance's last read/write (cached). */
type HintRow = MetadataRow & { cached?: boolean };

interface RunRef {
  id: string;
  parentTaskRunId: string | null;
  rootTaskRunId: string | null;
}

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

/** Applies and serialises; `undefined` data means "nothing changed, don't write". */
function compute(current: MetadataObject, operations: MetadataOperation[], maximumSize: number) {
  const { newMetadata } = applyMetadataOperations(current, operations);
  if (deepEqual(current, newMetadata)) return { metadata: current, data: undefined };
  const data = JSON.stringify(newMetadata);
  if (metadataByteLength(data) > maximumSize) throw metadataTooLarge(maximumSize);
  return { metadata: newMetadata, data };
}

type Outcome = { ok: true; metadata: MetadataObject } | { ok: false; error: unknown };

function assertUpdatable(completedAt: Date | null, cutoff: Date) {
  if (completedAt && completedAt < cutoff) throw unprocessable("Cannot update metadata for a completed run");
}

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

/** Locks every target row (in id order), applies, writes, commits: all or nothing. */
async function updateLocked(
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

async function lockRows(tx: Db, ids: string[]): Promise<Map<string, MetadataRow>> {
  const rows = await tx.$queryRaw<MetadataRow[]>`
    SELECT "id", "metadata", "metadataType", "metadataVersion" FROM "TaskRun"
    WHERE "id" = ANY(${ids}::text[]) ORDER BY "id" FOR UPDATE`;
  return new Map(rows.map((row) => [row.id, row]));
}
