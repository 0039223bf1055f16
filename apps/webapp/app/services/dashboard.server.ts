/**
 * What the dashboard routes read and write: environment access for a signed-in user, the run list
 * (filters and keyset pagination), one run with its relatives, API keys, the realtime token, and
 * shape-server health. Route modules stay thin and call these.
 */
import { z } from "zod";
import {
  ADDITIONAL_KEY_REGEX,
  TASK_RUN_STATUSES,
  generateAdditionalKey,
  generateRootKey,
  parseScope,
  publicStatusFromRunStatus,
  type PublicRunStatus,
} from "@runfeed/core";
import type { Prisma, PrismaClient, TaskRunStatus } from "@runfeed/database";
import { toRealtimeRun, type RawRunRow, type RealtimeRun } from "@runfeed/sdk";
import { TIME_RANGES, parseRunCursor, runCursor, type RunFilters } from "../components/runs/filters";

export { RunFilters, TIME_RANGES, parseRunFilters, runCursor, type TimeRange } from "../components/runs/filters";
import { auditEventCreate, type AuditActor } from "./audit.server";
import { sha256, signPublicToken, type AuthenticatedEnvironment, type Authenticator } from "./auth.server";
import { notFound } from "./httpErrors.server";
import type { Services } from "./services.server";

// --- environments --------------------------------------------------------------------------------

export interface EnvParams {
  orgSlug?: string;
  projectSlug?: string;
  envSlug?: string;
}

export type DashboardEnvironment = AuthenticatedEnvironment & {
  organization: { id: string; slug: string; title: string; realtimeBackend: string | null };
};

/**
 * The environment named by the URL, if the user is a member of its organisation; otherwise a 404
 * (never a 403: other organisations' slugs are not revealed).
 */
export async function requireEnvironment(
  services: Services,
  userId: string,
  params: EnvParams,
): Promise<DashboardEnvironment> {
  const { orgSlug, projectSlug, envSlug } = params;
  if (!orgSlug || !projectSlug || !envSlug) throw new Response("Not found", { status: 404 });
  const environment = await services.prisma.runtimeEnvironment.findFirst({
    where: {
      slug: envSlug,
      archivedAt: null,
      project: { slug: projectSlug, deletedAt: null, organization: { slug: orgSlug, members: { some: { userId } } } },
    },
    include: { project: { include: { organization: true } }, parentEnvironment: true },
  });
  if (!environment) throw new Response("Environment not found", { status: 404 });
  return { ...environment, organization: environment.project.organization };
}

export interface SwitcherOrganization {
  slug: string;
  title: string;
  projects: Array<{ slug: string; name: string; environments: Array<{ slug: string; type: string }> }>;
}

const ENV_ORDER: Record<string, number> = { DEVELOPMENT: 0, STAGING: 1, PREVIEW: 2, PRODUCTION: 3 };

export async function switcherTree(prisma: PrismaClient, userId: string): Promise<SwitcherOrganization[]> {
  const organizations = await prisma.organization.findMany({
    where: { members: { some: { userId } } },
    orderBy: { title: "asc" },
    include: {
      projects: {
        where: { deletedAt: null },
        orderBy: { name: "asc" },
        include: {
          environments: { where: { archivedAt: null, parentEnvironmentId: null }, select: { slug: true, type: true } },
        },
      },
    },
  });
  return organizations.map((organization) => ({
    slug: organization.slug,
    title: organization.title,
    projects: organization.projects.map((project) => ({
      slug: project.slug,
      name: project.name,
      environments: project.environments.sort((a, b) => (ENV_ORDER[a.type] ?? 9) - (ENV_ORDER[b.type] ?? 9)),
    })),
  }));
}

export function envPath(params: { orgSlug: string; projectSlug: string; envSlug: string }, page = "runs"): string {
  return `/orgs/${params.orgSlug}/projects/${params.projectSlug}/env/${params.envSlug}/${page}`;
}

/** The first environment the user can see (development first), for the landing redirect. */
export async function defaultEnvPath(prisma: PrismaClient, userId: string): Promise<string | undefined> {
  for (const organization of await switcherTree(prisma, userId)) {
    for (const project of organization.projects) {
      const environment = project.environments[0];
      if (environment)
        return envPath({ orgSlug: organization.slug, projectSlug: project.slug, envSlug: environment.slug });
    }
  }
  return undefined;
}

// --- realtime token ------------------------------------------------------------------------------

/**
 * The dashboard's own public token: the same kind a customer's backend mints, so the live table goes
 * through the same realtime route, proxy and limiter as everyone else. Short-lived
 * (DASHBOARD_REALTIME_TOKEN_TTL_SECONDS): when the feed's token is refused, the page asks the
 * realtime-token resource route for a fresh one and the feed resumes. List tokens skip the heavy
 * columns (payload, output).
 */
export function dashboardRealtimeToken(
  services: Pick<Services, "env">,
  environment: AuthenticatedEnvironment,
  runFriendlyId?: string,
): Promise<string> {
  return signPublicToken(
    environment,
    runFriendlyId
      ? { scopes: [`read:runs:${runFriendlyId}`] }
      : { scopes: ["read:runs"], realtime: { skipColumns: ["payload", "output"] } },
    Math.floor(Date.now() / 1000) + services.env.DASHBOARD_REALTIME_TOKEN_TTL_SECONDS,
  );
}

// --- run list ------------------------------------------------------------------------------------

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

// --- API keys ------------------------------------------------------------------------------------

export async function listApiKeys(prisma: PrismaClient, environmentId: string) {
  const keys = await prisma.apiKey.findMany({
    where: { runtimeEnvironmentId: environmentId },
    orderBy: [{ revokedAt: { sort: "desc", nulls: "first" } }, { createdAt: "desc" }],
  });
  return keys.map((key) => ({
    id: key.id,
    name: key.name,
    keyPrefix: key.keyPrefix,
    scopes: key.scopes,
    createdAt: key.createdAt.getTime(),
    lastUsedAt: key.lastUsedAt?.getTime() ?? null,
    revokedAt: key.revokedAt?.getTime() ?? null,
  }));
}

export { COMMON_SCOPES } from "../components/scopes";

export const CreateApiKeyForm = z.object({
  name: z.string().trim().min(1, "Give the key a name").max(64),
  scopes: z
    .array(z.string().trim())
    .transform((scopes) => [...new Set(scopes.filter(Boolean))])
    .refine((scopes) => scopes.length > 0, "Pick at least one scope")
    .refine(
      (scopes) => scopes.every((scope) => parseScope(scope) !== undefined),
      "A scope is not valid (action:type[:id])",
    ),
});

/** Creates an additional key; the plaintext is returned once and only its SHA-256 is stored. Audited. */
export async function createApiKey(
  prisma: PrismaClient,
  environment: Pick<AuthenticatedEnvironment, "id" | "type">,
  input: z.output<typeof CreateApiKeyForm>,
  actor: AuditActor,
): Promise<{ id: string; key: string }> {
  const key = generateAdditionalKey(environment.type);
  if (!ADDITIONAL_KEY_REGEX.test(key)) throw new Error("generated key has the wrong format");
  const keyPrefix = key.slice(0, key.lastIndexOf("_") + 5);
  const [created] = await prisma.$transaction([
    prisma.apiKey.create({
      data: {
        name: input.name,
        keyHash: sha256(key),
        keyPrefix,
        scopes: input.scopes,
        runtimeEnvironmentId: environment.id,
      },
    }),
    auditEventCreate(prisma, {
      action: "api-key-created",
      actor,
      environmentId: environment.id,
      details: { name: input.name, keyPrefix, scopes: input.scopes.join(" ") },
    }),
  ]);
  return { id: created.id, key };
}

/** Revokes an additional key of the environment (false when there is no such unrevoked key). Audited. */
export async function revokeApiKey(
  { prisma, auth }: { prisma: PrismaClient; auth: Authenticator },
  environmentId: string,
  id: string,
  actor: AuditActor,
): Promise<boolean> {
  const revoked = await prisma.$transaction(async (tx) => {
    const key = await tx.apiKey.findFirst({ where: { id, runtimeEnvironmentId: environmentId, revokedAt: null } });
    if (!key) return false;
    await tx.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    await auditEventCreate(tx, {
      action: "api-key-revoked",
      actor,
      environmentId,
      details: { name: key.name, keyPrefix: key.keyPrefix },
    });
    return true;
  });
  // This instance stops accepting it at once; others within the auth cache's few seconds.
  auth.forgetKeys();
  return revoked;
}

/**
 * A new root secret key. The old one stops working (at once on this instance, within the auth
 * cache's few seconds on others), and so do public tokens signed with it (HS256 over the root key).
 * Audited.
 */
export async function rollRootKey(
  { prisma, auth }: { prisma: PrismaClient; auth: Authenticator },
  environment: Pick<AuthenticatedEnvironment, "id" | "type">,
  actor: AuditActor,
): Promise<string> {
  const apiKey = generateRootKey(environment.type);
  await prisma.$transaction([
    prisma.runtimeEnvironment.update({ where: { id: environment.id }, data: { apiKey } }),
    auditEventCreate(prisma, { action: "root-key-rolled", actor, environmentId: environment.id }),
  ]);
  auth.forgetKeys();
  return apiKey;
}
