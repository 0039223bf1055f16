/**
 * Run lookup shared by the write and read API routes. A run is only ever found inside the caller's
 * environment, so a run of another environment is a 404 exactly like a missing one.
 */
import type { Prisma, PrismaClient, TaskRun } from "@runfeed/database";
import { z } from "zod";
import { notFound } from "./httpErrors.server";

export type Db = PrismaClient | Prisma.TransactionClient;

/**
 * A run or batch id in a path: control characters are refused here (Postgres cannot store NUL in
 * text, so `%00` would otherwise fail inside the query).
 */
export const ResourceId = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

/** Route params of the /runs/:runId routes. */
export const RunIdParams = z.object({ runId: ResourceId });

/** `run_…` is a friendly id; anything else is tried as the internal id. */
export function runWhere(environmentId: string, runParam: string): Prisma.TaskRunWhereInput {
  return runParam.startsWith("run_")
    ? { friendlyId: runParam, runtimeEnvironmentId: environmentId }
    : { id: runParam, runtimeEnvironmentId: environmentId };
}

export function findRun(db: Db, environmentId: string, runParam: string): Promise<TaskRun | null> {
  return db.taskRun.findFirst({ where: runWhere(environmentId, runParam) });
}

export const runNotFound = () => notFound("Task Run not found");

/**
 * True when a Prisma error is a unique-constraint violation, optionally on a constraint whose name or
 * fields mention `column` (Prisma 7 with the pg adapter reports the index name under
 * meta.driverAdapterError.cause.constraint).
 */
export function isUniqueViolation(error: unknown, column?: string): boolean {
  const e = error as { code?: string; meta?: unknown };
  if (e?.code !== "P2002") return false;
  return column === undefined || JSON.stringify(e.meta ?? {}).includes(column);
}
