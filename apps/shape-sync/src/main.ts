/** Process entry (`pnpm --filter ./apps/shape-sync start`): env → server, clean shutdown on SIGINT/SIGTERM. */
import pino from "pino";
import { configFromEnv } from "./env.js";
import { startShapeServer } from "./server.js";

const config = configFromEnv();
const logger = pino({ level: config.logLevel, name: "shape-sync" });
logger.info(
  { port: config.port, storageDir: config.storageDir, streamId: config.replicationStreamId },
  "starting shape-sync",
);
const server = await startShapeServer(config, logger);
server.ready.catch((err) => {
  logger.fatal({ err }, "startup failed");
  process.exit(1);
});

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping");
    server.stop().then(
      () => process.exit(0),
      (err) => {
        logger.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  });
}
