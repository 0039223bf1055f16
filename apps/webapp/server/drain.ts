/**
 * The write pipeline's drain alone, without the web server (docs/decisions/092-write-pipeline.md): the
 * same WritePipelineDrain the webapp hosts when WRITE_PIPELINE_DRAIN_ENABLED, as its own process, so
 * it can be scaled, or killed, apart from the webapp. Same environment as the webapp.
 *
 *   node --import tsx apps/webapp/server/drain.ts
 */
import { Redis } from "ioredis";
import { parseEnv } from "../app/env.server.js";
import { createLogger } from "../app/services/logger.server.js";
import { createMetrics } from "../app/services/metrics.server.js";
import { createWritePipeline } from "../app/services/writePipeline/writePipelineServices.server.js";
import { BackendSelection } from "../app/services/realtime/backendSelection.server.js";
import { RunSignals } from "../app/services/realtime/native/runSignals.server.js";
import { createPrismaClient } from "@runfeed/database";

const env = (() => {
  try {
    return parseEnv(process.env);
  } catch (error) {
    process.stderr.write(`drain did not start: ${(error as Error).message}\n`);
    process.exit(1);
  }
})();
const logger = createLogger(env.LOG_LEVEL);
const redis = new Redis(env.REDIS_URL, { maxRetriesPerRequest: 1 });
redis.on("error", (error) => logger.debug({ err: error.message }, "redis connection error"));
// Runs the metadata it applies changed are signalled to the realtime feeds (only while some feed is served natively).
const prisma = createPrismaClient(env.DATABASE_URL, { max: 2 });
const backends = new BackendSelection({ prisma, defaultBackend: env.REALTIME_BACKEND });
const signals = new RunSignals({
  redisUrl: env.REALTIME_RUNS_PUBSUB_REDIS_URL ?? env.REDIS_URL,
  keyPrefix: env.REDIS_KEY_PREFIX,
  logger,
  needed: () => backends.signalsNeeded(),
});
const pipeline = createWritePipeline({ env, redis, logger, metrics: createMetrics(), drain: true, signals });
logger.info({ consumer: pipeline.drain?.consumer, streams: pipeline.streams.length }, "write pipeline drain running");

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  logger.info({ signal }, "drain shutting down");
  await pipeline.close();
  backends.close();
  signals.close();
  await prisma.$disconnect();
  redis.disconnect();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
