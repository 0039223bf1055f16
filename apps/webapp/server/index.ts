/**
 * The webapp process: parse env, build the app, listen, shut down cleanly on SIGINT/SIGTERM.
 * `pnpm start` at the repo root launches this with the embedded services' URLs.
 */
import { parseEnv } from "../app/env.server.js";
import { createWebapp, listen } from "./app.js";

const env = parseEnv(process.env);
const webapp = await createWebapp(env);
const { url, server } = await listen(webapp, env.PORT, env.HOST);
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
