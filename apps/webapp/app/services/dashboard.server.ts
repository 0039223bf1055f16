/**
 * Where a signed-in user is in the dashboard: the environment a page is about (access checked), the
 * organisation/project/environment switcher, the paths between them, and the short-lived realtime
 * token the live views use. The run list and run page read through dashboardRuns.server.ts, the API
 * keys page through apiKeys.server.ts. Route modules stay thin and call these.
 */
import type { PrismaClient } from "@runfeed/database";
import { signPublicToken, type AuthenticatedEnvironment } from "./auth.server";
import type { Services } from "./services.server";

// --- environments --------------------------------------------------------------------------------

export interface EnvParams {
  orgSlug?: string;
  projectSlug?: string;
  envSlug?: string;
}

export type DashboardEnvironment = AuthenticatedEnvironment & {
  organization: { id: string; slug: string; title: string };
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
