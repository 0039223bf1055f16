/**
 * The dashboard's runs: the run list (filters and keyset pagination) and one run with its attempts and
 * relatives, read from Postgres and mapped to the SDK's run shape (the same mapping as the live feed).
 */
import { TASK_RUN_STATUSES, publicStatusFromRunStatus, type PublicRunStatus } from "@runfeed/core";
import type { Prisma, PrismaClient, TaskRunStatus } from "@runfeed/database";
import { toRealtimeRun, type RawRunRow, type RealtimeRun } from "@runfeed/sdk";
import { TIME_RANGES, parseRunCursor, runCursor, type RunFilters } from "../components/runs/filters";
import { notFound } from "./httpErrors.server";

/** DB statuses that map to a public status. */
export function dbStatusesFor(status: PublicRunStatus): TaskRunStatus[] {
  return TASK_RUN_STATUSES.filter((s) => publicStatusFromRunStatus(s) === status) as TaskRunStatus[];
}

/** A database row → the run the SDK maps from the live feed (one mapping for both, packages/sdk/src/run.ts). */
const runFromRow = (row: Record<string, unknown>): RealtimeRun => toRealtimeRun(row as RawRunRow);

export interface RunPage {
  runs: RealtimeRun[];
  nextCursor: string | undefined;
  tasks: string[];
}

export async function listRuns(
  prisma: PrismaClient,
  environmentId: string,
  filters: RunFilters,
  now = Date.now(),
): Promise<RunPage> {
  const where: Prisma.TaskRunWhereInput = { runtimeEnvironmentId: environmentId };
  if (filters.status) where.status = { in: dbStatusesFor(filters.status) };
  if (filters.task) where.taskIdentifier = filters.task;
  if (filters.tag) where.runTags = { has: filters.tag };
  const rangeMs = TIME_RANGES[filters.range];
  const and: Prisma.TaskRunWhereInput[] = [];
  if (rangeMs !== undefined) and.push({ createdAt: { gte: new Date(now - rangeMs) } });
  if (filters.cursor) {
    const { createdAt, friendlyId } = parseRunCursor(filters.cursor);
    and.push({ OR: [{ createdAt: { lt: createdAt } }, { createdAt, friendlyId: { lt: friendlyId } }] });
  }
  if (and.length) where.AND = and;

  const [rows, tasks] = await Promise.all([
    prisma.taskRun.findMany({
      where,
      orderBy: [{ createdAt: "desc" }, { friendlyId: "desc" }],
      take: filters.limit + 1,
      select: LIST_SELECT,
    }),
    prisma.taskRun.findMany({
      where: { runtimeEnvironmentId: environmentId },
      distinct: ["taskIdentifier"],
      select: { taskIdentifier: true },
      orderBy: { taskIdentifier: "asc" },
      take: 100,
    }),
  ]);
  const runs = rows.slice(0, filters.limit).map(runFromRow);
  const last = runs[runs.length - 1];
  return {
    runs,
    nextCursor: rows.length > filters.limit && last ? runCursor(last) : undefined,
    tasks: tasks.map((t) => t.taskIdentifier),
  };
}

const LIST_SELECT = {
  id: true,
  friendlyId: true,
  taskIdentifier: true,
  status: true,
  runTags: true,
  createdAt: true,
  updatedAt: true,
  startedAt: true,
  completedAt: true,
  usageDurationMs: true,
  costInCents: true,
  baseCostInCents: true,
  metadata: true,
  metadataType: true,
} as const;

// --- one run -------------------------------------------------------------------------------------

export async function getRunDetail(prisma: PrismaClient, environmentId: string, friendlyId: string) {
  const run = await prisma.taskRun.findFirst({
    where: { runtimeEnvironmentId: environmentId, friendlyId },
    include: { batch: { select: { friendlyId: true } } },
  });
  if (!run) throw notFound("Run not found");
  const relatives = (ids: Array<string | null>) =>
    prisma.taskRun.findMany({
      where: { id: { in: ids.filter((id): id is string => !!id) }, runtimeEnvironmentId: environmentId },
      select: LIST_SELECT,
    });
  const [lineage, children, attempts] = await Promise.all([
    relatives([run.parentTaskRunId, run.rootTaskRunId]),
    prisma.taskRun.findMany({
      where: { parentTaskRunId: run.id, runtimeEnvironmentId: environmentId },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      take: 200,
      select: LIST_SELECT,
    }),
    prisma.taskRunAttempt.findMany({ where: { runId: run.id }, orderBy: { number: "asc" }, take: 100 }),
  ]);
  const byId = new Map(lineage.map((r) => [r.id, runFromRow(r)]));
  return {
    run: runFromRow(run),
    /** What the feed does not carry. */
    attemptCount: run.attemptCount,
    batchFriendlyId: run.batch?.friendlyId ?? null,
    idempotencyKey: run.idempotencyKey,
    parent: run.parentTaskRunId ? (byId.get(run.parentTaskRunId) ?? null) : null,
    root: run.rootTaskRunId && run.rootTaskRunId !== run.parentTaskRunId ? (byId.get(run.rootTaskRunId) ?? null) : null,
    children: children.map(runFromRow),
    /** Each attempt: who ran it, how it ended, its last heartbeat (docs/decisions/093-run-lifecycle-timers.md). */
    attempts: attempts.map((attempt) => ({
      number: attempt.number,
      status: attempt.status,
      workerId: attempt.workerId,
      startedAt: attempt.startedAt.getTime(),
      heartbeatAt: attempt.heartbeatAt.getTime(),
      completedAt: attempt.completedAt?.getTime() ?? null,
      error: (attempt.error as { message?: string; raw?: string; code?: string } | null) ?? null,
    })),
  };
}
export type RunDetail = Awaited<ReturnType<typeof getRunDetail>>;
