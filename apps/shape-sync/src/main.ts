/** Process entry (`pnpm --filter ./apps/shape-sync start`): env → server, clean shutdown on SIGINT/SIGTERM. */
import pino from "pino";
import { configFromEnv } from "./env.js";
import { startShapeServer } from "./server.js";

/** A start failure is one line naming its cause (the start command shows it), never a stack trace. */
function failedToStart(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`shape-sync did not start: ${message.split("\n").filter(Boolean).join("; ")}\n`);
  process.exit(1);
}

const config = (() => {
  try {
    return configFromEnv();
  } catch (error) {
    failedToStart(error);
  }
})();
const logger = pino({ level: config.logLevel, name: "shape-sync" });
logger.info(
  { port: config.port, storageDir: config.storageDir, streamId: config.replicationStreamId },
  "starting shape-sync",
);
const server = await startShapeServer(config, logger).catch(failedToStart);
server.ready.catch(failedToStart);

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
