/**
 * Wiring of the example worker (style rule 8: the class takes plain options, this module takes the
 * services). createServices starts it when WORKER_ENABLED and stops it on close.
 */
import type { PrismaClient } from "@runfeed/database";
import type { WebappEnv } from "../env.server";
import { RunWorker } from "./runWorker.server";
import type { TaskRegistry } from "./taskRegistry.server";
import type { Logger } from "../services/logger.server";
import type { RunMetadataWriter } from "../services/metadata.server";

export function createWorker(deps: {
  env: WebappEnv;
  prisma: PrismaClient;
  logger: Logger;
  metadataWriter: RunMetadataWriter;
  tasks: TaskRegistry;
  /** Where tasks reach the API; defaults to APP_ORIGIN, else http://HOST:PORT. */
  apiBaseURL?: string;
}): RunWorker {
  const { env } = deps;
  return new RunWorker({
    prisma: deps.prisma,
    logger: deps.logger,
    metadataWriter: deps.metadataWriter,
    tasks: deps.tasks,
    metadataMaximumSize: env.TASK_RUN_METADATA_MAXIMUM_SIZE,
    apiBaseURL: deps.apiBaseURL ?? env.APP_ORIGIN ?? `http://${env.HOST}:${env.PORT}`,
  });
}
