/**
 * Wiring of the example worker (style rule 8: the class takes plain options, this module takes the
 * services). createServices starts it when WORKER_ENABLED and stops it on close.
 */
import { exampleTasks } from "../../../../examples/tasks/index";
import { RunWorker } from "../worker/runWorker.server";
import type { Logger } from "./logger.server";
import type { PrismaClient } from "@runfeed/database";
import type { WebappEnv } from "../env.server";

export function createWorker(deps: { env: WebappEnv; prisma: PrismaClient; logger: Logger }): RunWorker {
  return new RunWorker({
    prisma: deps.prisma,
    logger: deps.logger,
    tasks: exampleTasks,
    metadataMaximumSize: deps.env.TASK_RUN_METADATA_MAXIMUM_SIZE,
  });
}
