/**
 * The worker process (docs/decisions/093-run-lifecycle-timers.md): executes queued runs and fires the
 * lifecycle's timers, apart from the webapp so it scales (and dies) on its own. `pnpm start` runs one
 * and restarts it when it exits. Same environment as the webapp; WORKER_ENABLED is implied. This
 * process hands the worker its task functions (the example tasks), like the webapp's entry does.
 */
import { exampleTasks } from "@runfeed/example-tasks";
import { parseEnv } from "../app/env.server.js";
import { createServices } from "../app/services/services.server.js";

const env = parseEnv({ ...process.env, WORKER_ENABLED: "true" });
const services = createServices(env, { tasks: exampleTasks, ownWorkerProcess: true });
services.logger.info({ worker: services.worker?.workerId, tasks: services.tasks.ids }, "worker started");

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  services.logger.info({ signal }, "worker shutting down");
  await services.close();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
