/**
 * Creating runs (realtime-contract §6.1, checklist #38): used by the trigger route, batch items and
 * replay. Validation happens before any write, and multi-row writes share a transaction, so an error
 * leaves nothing behind.
 *
 * - idempotency: `options.idempotencyKey` (or the `idempotency-key` header) returns the existing run
 *   of the same task in the environment with `isCached: true`, until its TTL (`idempotencyKeyTTL`,
 *   default 30 days) passes; then the old run releases the key and a new run takes it. Races between
 *   two first triggers are settled by the unique index (env, task, key): the loser re-reads and
 *   answers the winner's run as cached;
 * - one-time-use tokens: the SHA-256 of the presented JWT goes into the unique `oneTimeUseToken`;
 *   a second use is a 422;
 * - tags ≤ 10 (422 above), each ≤ 128 (400, zod); `delay` → DELAYED + delayUntil; otherwise PENDING +
 *   queuedAt; `ttl` as a duration string (dev environments default to "10m");
 * - `parentRunId` (friendly id, same environment) sets parent, root (the parent's root, else the
 *   parent) and depth;
 * - the lifecycle (docs/decisions/093-run-lifecycle-timers.md): the TTL counts from when the run is
 *   queued (`ttlExpiresAt`), `maxDuration` and `maxAttempts` are kept for the worker, a `debounce`
 *   key collapses triggers into the DELAYED run that holds it (engine/debounce.server.ts), and a
 *   delayed run arms its timer once committed.
 */
import {
  MAX_RUN_ATTEMPTS,
  MAX_TAGS_PER_RUN,
  generateRunFriendlyId,
  generateRunId,
  metadataByteLength,
  normalizeTags,
  normalizeTtl,
  parseDurationMs,
  resolveDelay,
  type TriggerTaskRequestBody,
} from "@runfeed/core";
import type { PrismaClient, TaskRun } from "@runfeed/database";
import type pg from "pg";
import type { AuthenticatedEnvironment } from "./auth.server";
import { HttpError, badRequest, unprocessable } from "./httpErrors.server";
import { insertRunPrepared, insertedTaskRun, type NewRun } from "./runInsert.server";
import { isUniqueViolation, runWhere, type Db } from "./runLookup.server";
import { defaultQueueName, setQueueConcurrencyLimit } from "../engine/queues.server";
import { armDelayTimers } from "../engine/delays.server";
import { debounceTrigger, debounceWindow, isDebounceKeyConflict } from "../engine/debounce.server";

/** Largest trigger body (upstream TASK_PAYLOAD_MAXIMUM_SIZE). */
export const TASK_PAYLOAD_MAXIMUM_SIZE = 3 * 1024 * 1024;
export const DEFAULT_IDEMPOTENCY_KEY_TTL_MS = 30 * 86_400_000;
const DEV_DEFAULT_TTL = "10m";

export interface TriggerInput {
  environment: Pick<AuthenticatedEnvironment, "id" | "projectId" | "type">;
  taskId: string;
  body: TriggerTaskRequestBody;
  /** Header fallbacks (`idempotency-key`, `idempotency-key-ttl`). */
  idempotencyKeyHeader?: string | null;
  idempotencyKeyTTLHeader?: string | null;
  /** sha256 of a one-time-use JWT. */
  oneTimeUseToken?: string;
  /** Internal id of the batch the run belongs to. */
  batchId?: string;
  replayedFromTaskRunId?: string;
  metadataMaximumSize: number;
  now?: Date;
}

export interface TriggerResult {
  run: TaskRun;
  isCached: boolean;
}

/** What a trigger comes to before any write: an existing run to answer, or a new row to insert. */
export type PreparedRun =
  | { kind: "cached"; run: TaskRun }
  /** `releaseKeyOf`: the run whose expired idempotency key this one takes (cleared in the same transaction). */
  | { kind: "new"; row: NewRun; releaseKeyOf?: string };

/** Lookups shared by the items of one batch (their parents are usually one run). */
export type ParentCache = Map<string, Promise<Lineage>>;
type Lineage = Pick<NewRun, "parentTaskRunId" | "rootTaskRunId" | "depth">;

/**
 * Triggers one run. Its only write is one INSERT (atomic on its own), except when an expired
 * idempotency key is handed over: then the release and the INSERT share a transaction.
 */
export async function triggerRun(
  prisma: PrismaClient,
  input: TriggerInput,
  /** The hot path's pool (Services.sqlPool): the INSERT as a prepared statement instead of Prisma's create. */
  pool?: pg.Pool,
): Promise<TriggerResult> {
  try {
    const result = await triggerRunFast(prisma, input, pool);
    await armDelayTimers(prisma, [result.run]);
    return result;
  } catch (error) {
    if (isDebounceKeyConflict(error)) {
      // Lost a race with a concurrent first trigger of the same debounce key: join its run.
      const result = await triggerRunInTransaction(prisma, input);
      await armDelayTimers(prisma, [result.run]);
      return result;
    }
    if (isUniqueViolation(error, "oneTimeUseToken")) throw oneTimeUseError(input.taskId);
    const key = idempotencyKeyOf(input);
    if (key && isUniqueViolation(error, "idempotencyKey")) {
      // Lost a race with a concurrent first trigger of the same key: answer the winner.
      const existing = await prisma.taskRun.findFirst({
        where: { runtimeEnvironmentId: input.environment.id, taskIdentifier: input.taskId, idempotencyKey: key },
      });
      if (existing) return { run: existing, isCached: true };
    }
    throw error;
  }
}

/** The prepared INSERT when the hot path's pool is given and no key is handed over, else the ordinary path. */
async function triggerRunFast(prisma: PrismaClient, input: TriggerInput, pool?: pg.Pool): Promise<TriggerResult> {
  if (pool) {
    const prepared = await prepareRun(prisma, input);
    if (prepared.kind === "cached") return { run: prepared.run, isCached: true };
    if (!prepared.releaseKeyOf && (await insertRunPrepared(pool, prepared.row)))
      return { run: insertedTaskRun(prepared.row), isCached: false };
    // A key taken meanwhile (or an expired key to hand over): the ordinary path answers as it always has.
  }
  return triggerRunInTransaction(prisma, input);
}

const oneTimeUseError = (taskId: string) =>
  unprocessable(`Cannot trigger ${taskId} with a one-time use token as it has already been used.`);

const idempotencyKeyOf = (input: TriggerInput) =>
  input.body.options?.idempotencyKey ?? (input.idempotencyKeyHeader || undefined);

/** Triggers one run, inside the caller's transaction when given one (batch items share one). */
export async function triggerRunInTransaction(tx: Db, input: TriggerInput): Promise<TriggerResult> {
  const prepared = await prepareRun(tx, input);
  if (prepared.kind === "cached") return { run: prepared.run, isCached: true };
  const data = prepared.row;
  const releaseKeyOf = prepared.releaseKeyOf;
  if (!releaseKeyOf) return { run: await tx.taskRun.create({ data }), isCached: false };
  const release = { where: { id: releaseKeyOf }, data: { idempotencyKey: null, idempotencyKeyExpiresAt: null } };
  if (isRootClient(tx)) {
    const [, run] = await tx.$transaction([tx.taskRun.update(release), tx.taskRun.create({ data })]);
    return { run, isCached: false };
  }
  await tx.taskRun.update(release);
  return { run: await tx.taskRun.create({ data }), isCached: false };
}

/**
 * Validates a trigger and does its lookups (idempotency key, one-time token, parent), writing nothing:
 * errors (400, 422, 413) are thrown here, before any write.
 */
export async function prepareRun(tx: Db, input: TriggerInput, parents?: ParentCache): Promise<PreparedRun> {
  const now = input.now ?? new Date();
  const { environment, taskId, body } = input;
  const options = body.options ?? {};

  const tags = normalizeTags(options.tags);
  if (tags.length > MAX_TAGS_PER_RUN) {
    throw unprocessable(`Runs can only have ${MAX_TAGS_PER_RUN} tags, you're trying to set ${tags.length}.`);
  }

  const idempotencyKey = idempotencyKeyOf(input);
  let idempotencyKeyExpiresAt: Date | undefined;
  let releaseKeyOf: string | undefined;
  if (idempotencyKey) {
    const ttlText = options.idempotencyKeyTTL ?? input.idempotencyKeyTTLHeader ?? undefined;
    const ttlMs = ttlText === undefined ? DEFAULT_IDEMPOTENCY_KEY_TTL_MS : parseDurationMs(ttlText);
    if (ttlMs === undefined)
      throw badRequest(`Invalid request body: options.idempotencyKeyTTL: not a duration ("${ttlText}")`);
    idempotencyKeyExpiresAt = new Date(now.getTime() + ttlMs);
    const existing = await tx.taskRun.findFirst({
      where: { runtimeEnvironmentId: environment.id, taskIdentifier: taskId, idempotencyKey },
    });
    if (existing) {
      if (!existing.idempotencyKeyExpiresAt || existing.idempotencyKeyExpiresAt > now)
        return { kind: "cached", run: existing };
      // Expired: the old run gives up the key (as upstream does) and a new run takes it below.
      releaseKeyOf = existing.id;
    }
  }

  if (input.oneTimeUseToken) {
    const used = await tx.taskRun.findUnique({
      where: { oneTimeUseToken: input.oneTimeUseToken },
      select: { id: true },
    });
    if (used) throw oneTimeUseError(taskId);
  }

  let delayUntil: Date | undefined;
  if (options.delay !== undefined) {
    delayUntil = resolveDelay(options.delay, now);
    if (!delayUntil)
      throw badRequest(`Invalid request body: options.delay: not a duration or date ("${String(options.delay)}")`);
  }
  const debounce = options.debounce ? debounceWindow(options.debounce, now) : undefined;
  if (options.debounce && !debounce)
    throw badRequest(`Invalid request body: options.debounce: not a duration ("${options.debounce.delay}")`);
  if (debounce) {
    if (delayUntil === undefined || delayUntil < debounce.delayUntil) delayUntil = debounce.delayUntil;
    const joined = await debounceTrigger(tx, {
      environmentId: environment.id,
      taskId,
      key: debounce.key,
      delayUntil,
      trailing: debounce.trailing,
      payload: body.payload === undefined ? undefined : serialisePayload(body.payload, options.payloadType),
    });
    if (joined) return { kind: "cached", run: joined };
  }
  const delayed = delayUntil !== undefined && delayUntil > now;

  let ttl: string | undefined;
  if (options.ttl !== undefined) {
    ttl = normalizeTtl(options.ttl);
    if (ttl === undefined && options.ttl !== 0)
      throw badRequest(`Invalid request body: options.ttl: not a duration ("${String(options.ttl)}")`);
  } else if (environment.type === "DEVELOPMENT") {
    ttl = DEV_DEFAULT_TTL;
  }

  const lineage = await parentLineage(tx, environment.id, options.parentRunId, parents);
  const { payload, payloadType } = serialisePayload(body.payload, options.payloadType);
  const metadata = serialiseMetadata(options.metadata, input.metadataMaximumSize);

  const ttlMs = ttl === undefined ? undefined : parseDurationMs(ttl);
  const queuedAt = delayed ? delayUntil! : now;
  if (options.maxAttempts !== undefined && (options.maxAttempts < 1 || options.maxAttempts > MAX_RUN_ATTEMPTS))
    throw badRequest(`Invalid request body: options.maxAttempts: between 1 and ${MAX_RUN_ATTEMPTS}`);
  if (options.maxDuration !== undefined && !(options.maxDuration > 0))
    throw badRequest("Invalid request body: options.maxDuration: a positive number of seconds");

  const queue = options.queue?.name ?? defaultQueueName(taskId);
  if (options.queue?.concurrencyLimit !== undefined)
    await setQueueConcurrencyLimit(tx, environment.id, queue, options.queue.concurrencyLimit);

  const row: NewRun = {
    id: generateRunId(),
    friendlyId: generateRunFriendlyId(),
    taskIdentifier: taskId,
    runtimeEnvironmentId: environment.id,
    projectId: environment.projectId,
    status: delayed ? "DELAYED" : "PENDING",
    createdAt: now,
    updatedAt: now,
    queuedAt: delayed ? null : now,
    delayUntil: delayed && delayUntil ? delayUntil : null,
    ttl: ttl ?? null,
    isTest: options.test ?? false,
    payload,
    payloadType,
    metadata: metadata?.data ?? null,
    metadataType: metadata?.type ?? "application/json",
    runTags: tags,
    idempotencyKey: idempotencyKey ?? null,
    idempotencyKeyExpiresAt: idempotencyKeyExpiresAt ?? null,
    oneTimeUseToken: input.oneTimeUseToken ?? null,
    batchId: input.batchId ?? null,
    replayedFromTaskRunId: input.replayedFromTaskRunId ?? null,
    queue,
    concurrencyKey: options.concurrencyKey ?? null,
    maxAttempts: options.maxAttempts ?? null,
    maxDurationInSeconds: options.maxDuration === undefined ? null : Math.ceil(options.maxDuration),
    ttlExpiresAt: ttlMs === undefined ? null : new Date(queuedAt.getTime() + ttlMs),
    debounceKey: debounce && delayed ? debounce.key : null,
    debounceUntil: debounce && delayed ? debounce.maxUntil : null,
    ...lineage,
  };
  return releaseKeyOf ? { kind: "new", row, releaseKeyOf } : { kind: "new", row };
}

const isRootClient = (db: Db): db is PrismaClient => "$transaction" in db;

function parentLineage(
  tx: Db,
  environmentId: string,
  parentRunId: string | undefined,
  parents: ParentCache | undefined,
): Promise<Lineage> {
  if (!parentRunId || !parents) return resolveParent(tx, environmentId, parentRunId);
  let lineage = parents.get(parentRunId);
  if (!lineage) {
    lineage = resolveParent(tx, environmentId, parentRunId);
    parents.set(parentRunId, lineage);
  }
  return lineage;
}

async function resolveParent(tx: Db, environmentId: string, parentRunId: string | undefined): Promise<Lineage> {
  if (!parentRunId) return { parentTaskRunId: null, rootTaskRunId: null, depth: 0 };
  const parent = await tx.taskRun.findFirst({
    where: runWhere(environmentId, parentRunId),
    select: { id: true, rootTaskRunId: true, depth: true },
  });
  if (!parent) throw unprocessable(`Parent run ${parentRunId} not found`);
  return { parentTaskRunId: parent.id, rootTaskRunId: parent.rootTaskRunId ?? parent.id, depth: parent.depth + 1 };
}

/** The SDK sends the serialised packet string; a raw JSON value (curl) is stringified as JSON. */
export function serialisePayload(
  payload: unknown,
  payloadType: string | undefined,
): { payload: string; payloadType: string } {
  if (typeof payload === "string") return { payload, payloadType: payloadType ?? "application/json" };
  if (payload === undefined) return { payload: "", payloadType: payloadType ?? "application/json" };
  return { payload: JSON.stringify(payload), payloadType: "application/json" };
}

/** Trigger-time metadata: the SDK sends the raw object; stored as JSON, at most the configured size (413). */
export function serialiseMetadata(metadata: unknown, maximumSize: number): { data: string; type: string } | undefined {
  if (metadata === undefined || metadata === null) return undefined;
  const data = typeof metadata === "string" ? metadata : JSON.stringify(metadata);
  if (metadataByteLength(data) > maximumSize) throw metadataTooLarge(maximumSize);
  return { data, type: "application/json" };
}

export const metadataTooLarge = (maximumSize: number) =>
  new HttpError(413, { error: `Metadata exceeds maximum size of ${maximumSize} bytes` });
