/**
 * Wiring of the example worker (style rule 8: the class takes plain options, this module takes the
 * services). createServices starts it when WORKER_ENABLED and stops it on close.
 */
import { exampleTasks, sampleCsv } from "../../../../examples/tasks/index";
import { RunWorker } from "../worker/runWorker.server";
import type { Logger } from "./logger.server";
import type { RunMetadataWriter } from "./metadata.server";
import type { PrismaClient } from "@runfeed/database";
import type { WebappEnv } from "../env.server";
import { triggerRun } from "./trigger.server";

export function createWorker(deps: {
  env: WebappEnv;
  prisma: PrismaClient;
  logger: Logger;
  metadataWriter: RunMetadataWriter;
  /** Where tasks reach the API; defaults to APP_ORIGIN, else http://HOST:PORT. */
  apiBaseURL?: string;
}): RunWorker {
  const { env } = deps;
  return new RunWorker({
    prisma: deps.prisma,
    logger: deps.logger,
    metadataWriter: deps.metadataWriter,
    tasks: exampleTasks,
    metadataMaximumSize: env.TASK_RUN_METADATA_MAXIMUM_SIZE,
    apiBaseURL: deps.apiBaseURL ?? env.APP_ORIGIN ?? `http://${env.HOST}:${env.PORT}`,
  });
}

export interface DemoScenario {
  runId: string;
  environmentId: string;
}

/**
 * Triggers one CSV import in the demo project's dev environment (seedDemo), so a new user sees a
 * parent run's progress climb within a minute of `pnpm start` (it keeps climbing for about a minute). The worker (WORKER_ENABLED) runs it.
 * Takes only what it needs, so the seed script can call it with a bare Prisma client.
 */
export async function seedDemoScenario(
  services: { prisma: PrismaClient; worker?: RunWorker; env?: Pick<WebappEnv, "TASK_RUN_METADATA_MAXIMUM_SIZE"> },
  options: { orgSlug?: string; projectSlug?: string; envSlug?: string; rows?: number; rowDelayMs?: number } = {},
): Promise<DemoScenario> {
  const environment = await services.prisma.runtimeEnvironment.findFirstOrThrow({
    where: {
      slug: options.envSlug ?? "dev",
      project: { slug: options.projectSlug ?? "demo", organization: { slug: options.orgSlug ?? "demo" } },
    },
  });
  const { run } = await triggerRun(services.prisma, {
    environment,
    taskId: "csv-import",
    body: {
      // ~1,200 rows in 30 child runs at 150 ms a row: progress climbs for about a minute.
      payload: {
        filename: "welcome-customers.csv",
        csv: sampleCsv(options.rows ?? 1200),
        batchSize: 40,
        rowDelayMs: options.rowDelayMs ?? 150,
      },
      options: { tags: ["example:csv-import", "seed"], ttl: 0 },
    },
    metadataMaximumSize: services.env?.TASK_RUN_METADATA_MAXIMUM_SIZE ?? 262_144,
  });
  services.worker?.wake();
  return { runId: run.friendlyId, environmentId: environment.id };
}
