/**
 * The demo organisation, project and environments that `pnpm start` seeds, and the fixture
 * factory tests use. Idempotent: an existing demo is returned as it is.
 */
import { generateRootKey, type EnvironmentType } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import type { WebappEnv } from "../env.server";
import type { RunWorker } from "../worker/runWorker.server";
import { triggerRun } from "./trigger.server";

export interface SeededEnvironment {
  id: string;
  slug: string;
  type: EnvironmentType;
  apiKey: string;
}

export interface SeededProject {
  organizationId: string;
  projectId: string;
  projectSlug: string;
  environments: SeededEnvironment[];
}

const ENVIRONMENTS: Array<{ slug: string; type: EnvironmentType }> = [
  { slug: "dev", type: "DEVELOPMENT" },
  { slug: "staging", type: "STAGING" },
  { slug: "prod", type: "PRODUCTION" },
];

export async function seedProject(
  prisma: PrismaClient,
  options: { orgSlug: string; orgTitle: string; projectSlug: string; projectName: string },
): Promise<SeededProject> {
  const organization = await prisma.organization.upsert({
    where: { slug: options.orgSlug },
    update: {},
    create: { slug: options.orgSlug, title: options.orgTitle },
  });
  const project = await prisma.project.upsert({
    where: { slug: options.projectSlug },
    update: {},
    create: { slug: options.projectSlug, name: options.projectName, organizationId: organization.id },
  });
  const environments: SeededEnvironment[] = [];
  for (const { slug, type } of ENVIRONMENTS) {
    const environment = await prisma.runtimeEnvironment.upsert({
      where: { projectId_slug: { projectId: project.id, slug } },
      update: {},
      create: { slug, type, apiKey: generateRootKey(type), projectId: project.id, organizationId: organization.id },
    });
    environments.push({ id: environment.id, slug, type, apiKey: environment.apiKey });
  }
  return { organizationId: organization.id, projectId: project.id, projectSlug: project.slug, environments };
}

export const seedDemo = (prisma: PrismaClient) =>
  seedProject(prisma, { orgSlug: "demo", orgTitle: "Demo Org", projectSlug: "demo", projectName: "Demo project" });

/** The demo sign-in (`seedDemoUser(prisma) → {email, password}`). */
export { seedDemoUser, type DemoUser } from "./users.server";

export interface DemoScenario {
  runId: string;
  environmentId: string;
}

/**
 * Triggers one run of `taskId` with `payload` in the demo project's dev environment (seedDemo), for
 * the worker (WORKER_ENABLED) to run: `pnpm start` triggers the example CSV import this way, so a new
 * user sees a parent run's progress climb within a minute (server/seed.ts picks the payload).
 * Takes only what it needs, so the seed script can call it with a bare Prisma client.
 */
export async function seedDemoScenario(
  services: { prisma: PrismaClient; worker?: RunWorker; env?: Pick<WebappEnv, "TASK_RUN_METADATA_MAXIMUM_SIZE"> },
  run: { taskId: string; payload: unknown; tags?: string[] },
  options: { orgSlug?: string; projectSlug?: string; envSlug?: string } = {},
): Promise<DemoScenario> {
  const environment = await services.prisma.runtimeEnvironment.findFirstOrThrow({
    where: {
      slug: options.envSlug ?? "dev",
      project: { slug: options.projectSlug ?? "demo", organization: { slug: options.orgSlug ?? "demo" } },
    },
  });
  const { run: triggered } = await triggerRun(services.prisma, {
    environment,
    taskId: run.taskId,
    body: { payload: run.payload, options: { tags: [...(run.tags ?? []), "seed"], ttl: 0 } },
    metadataMaximumSize: services.env?.TASK_RUN_METADATA_MAXIMUM_SIZE ?? 262_144,
  });
  services.worker?.wake();
  return { runId: triggered.friendlyId, environmentId: environment.id };
}
