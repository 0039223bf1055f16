/**
 * The webapp process: parse env, build the app, listen, shut down cleanly on SIGINT/SIGTERM.
 * `pnpm start` at the repo root launches this with the embedded services' URLs. This process hands
 * the worker its task functions (the example tasks); app code never imports them.
 */
import { exampleTasks } from "@runfeed/example-tasks";
import { parseEnv } from "../app/env.server.js";
import { createWebapp, listen } from "./app.js";

/** A start failure is one line naming its cause (the start command shows it), never a stack trace. */
function failedToStart(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`webapp did not start: ${message.split("\n").filter(Boolean).join("; ")}\n`);
  process.exit(1);
}

const { env, webapp, url, server } = await (async () => {
  const env = parseEnv(process.env);
  const webapp = await createWebapp(env, { tasks: exampleTasks });
  return { env, webapp, ...(await listen(webapp, env.PORT, env.HOST)) };
})().catch(failedToStart);
webapp.services.logger.info({ url, electricOrigin: env.ELECTRIC_ORIGIN }, "webapp listening");

let closing = false;
async function shutdown(signal: string) {
  if (closing) return;
  closing = true;
  webapp.services.logger.info({ signal }, "webapp shutting down");
  server.closeAllConnections();
  server.close();
  await webapp.close();
  process.exit(0);
}
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("SIGTERM", () => void shutdown("SIGTERM"));
