/**
 * The demo organisation, project and environments that `pnpm start` seeds, and the fixture
 * factory tests use. Idempotent: an existing demo is returned as it is.
 */
import { generateRootKey, type EnvironmentType } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";

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

/** The demo sign-in (`seedDemoUser(prisma) → {email, password}`) and the live CSV import (`seedDemoScenario`). */
export { seedDemoUser, type DemoUser } from "./users.server";
export { seedDemoScenario, type DemoScenario } from "./worker.server";
