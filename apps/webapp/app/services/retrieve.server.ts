/**
 * `GET /api/v3/runs/:runId` → `RetrieveRunResponse` (realtime-contract §6.7, checklist #44), shaped
 * for the 4.8.3 SDK's zod schema: optional fields are omitted rather than null, dates are ISO strings,
 * status is the public name, metadata a parsed object.
 */
import { parseMetadataPacket, publicStatusFromRunStatus, runStatusFlags } from "@runfeed/core";
import type { PrismaClient, TaskRun } from "@runfeed/database";
import type { ApiVersion } from "./apiRoute.server";

export type RunWithBatch = TaskRun & { batch: { friendlyId: string } | null };

const MAX_CHILDREN = 100;

export async function presentRetrievedRun(prisma: PrismaClient, run: RunWithBatch, apiVersion: ApiVersion) {
  const include = { batch: { select: { friendlyId: true } } } as const;
  const [root, parent, children] = await Promise.all([
    run.rootTaskRunId ? prisma.taskRun.findUnique({ where: { id: run.rootTaskRunId }, include }) : null,
    run.parentTaskRunId ? prisma.taskRun.findUnique({ where: { id: run.parentTaskRunId }, include }) : null,
    prisma.taskRun.findMany({
      where: { parentTaskRunId: run.id },
      include,
      orderBy: { createdAt: "asc" },
      take: MAX_CHILDREN,
    }),
  ]);
  const output = run.status === "COMPLETED_SUCCESSFULLY" ? parsePacket(run.output, run.outputType) : undefined;
  return compact({
    ...commonFields(run, apiVersion),
    payload: parsePacket(run.payload, run.payloadType),
    output,
    error: run.error ? serialiseError(run.error) : undefined,
    relatedRuns: compact({
      root: root ? commonFields(root, apiVersion) : undefined,
      parent: parent ? commonFields(parent, apiVersion) : undefined,
      children: children.length ? children.map((child) => commonFields(child, apiVersion)) : undefined,
    }),
    attemptCount: run.attemptCount,
  });
}

function commonFields(run: RunWithBatch, apiVersion: ApiVersion) {
  const status = publicStatusFromRunStatus(run.status, apiVersion);
  const metadata = run.metadata ? parseMetadataPacket(run.metadata, run.metadataType) : undefined;
  return compact({
    id: run.friendlyId,
    status,
    taskIdentifier: run.taskIdentifier,
    idempotencyKey: run.idempotencyKey ?? undefined,
    ...runStatusFlags(status),
    isTest: run.isTest,
    createdAt: run.createdAt.toISOString(),
    updatedAt: run.updatedAt.toISOString(),
    startedAt: run.startedAt?.toISOString(),
    finishedAt: run.completedAt?.toISOString(),
    delayedUntil: run.delayUntil?.toISOString(),
    ttl: run.ttl ?? undefined,
    expiredAt: run.expiredAt?.toISOString(),
    tags: run.runTags ?? [],
    costInCents: run.costInCents,
    baseCostInCents: run.baseCostInCents,
    durationMs: run.usageDurationMs,
    metadata,
    depth: run.depth,
    triggerFunction: run.batchId ? "batchTrigger" : "trigger",
    batchId: run.batch?.friendlyId,
  });
}

/** Inline packets: JSON parsed, super+json unwrapped to its plain `json`, text as is; store paths omitted. */
export function parsePacket(data: string | null, dataType: string): unknown {
  if (data === null || data === "") return undefined;
  try {
    if (dataType === "application/json") return JSON.parse(data);
    if (dataType === "application/super+json") return (JSON.parse(data) as { json?: unknown }).json;
    if (dataType === "text/plain") return data;
  } catch {
    return undefined;
  }
  return undefined;
}

/** TaskRunError JSON → the SDK's SerializedError `{message, name?, stackTrace?}`. */
function serialiseError(error: unknown) {
  const e = (error ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === "string" ? v : undefined);
  switch (e.type) {
    case "BUILT_IN_ERROR":
      return compact({ message: str(e.message) ?? "", name: str(e.name), stackTrace: str(e.stackTrace) });
    case "CUSTOM_ERROR":
    case "STRING_ERROR":
      return { message: str(e.raw) ?? "" };
    case "INTERNAL_ERROR":
      return compact({
        message: str(e.message) ?? str(e.code) ?? "Internal error",
        name: str(e.code),
        stackTrace: str(e.stackTrace),
      });
    default:
      return { message: str(e.message) ?? JSON.stringify(error) };
  }
}

function compact<T extends Record<string, unknown>>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
