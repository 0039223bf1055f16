/**
 * apps/webapp's processes as children, the way the start command runs them, for tests and
 * benchmarks that need the real thing: the webapp (`server/index.ts`, the production bundle unless
 * asked for Vite), the worker (`server/worker.ts`) and the demo seed (`server/seed.ts`). Each gets
 * its settings through its environment only; nothing here imports the webapp's code.
 */
import { spawn, type ChildProcess, type StdioOptions } from "node:child_process";
import { ROOT, WEBAPP_BUILD, ensureBuilt, ensureBuiltSync } from "./builds.js";
import { cpuSeconds, runToCompletion, stopChild, waitForHttp } from "./processes.js";
import { freePort } from "./redis.js";

/** The webapp's process entries (apps/webapp/server). */
export type WebappEntry = "server/index.ts" | "server/worker.ts" | "server/seed.ts" | "server/drain.ts";

/**
 * V8 flags of the webapp server: 64 MiB young-generation semi-spaces instead of 16. Realtime streams
 * allocate short-lived strings and objects for every chunk written and read, and with the default
 * the server spent about a third of its busy time in scavenges at 1,000 streams × 50 chunks/s
 * (docs/decisions/081-realtime-streams.md). apps/webapp/Dockerfile's CMD passes the same flag.
 */
export const WEBAPP_SERVER_NODE_FLAGS: readonly string[] = ["--max-semi-space-size=64"];

/**
 * Node's arguments (run from the repository root) for one of the webapp's processes: its TypeScript
 * through tsx's loader in a plain node process, no wrapper process in between.
 */
export const webappArgs = (entry: WebappEntry, options: { nodeArgs?: string[]; args?: string[] } = {}) => [
  ...(entry === "server/index.ts" ? WEBAPP_SERVER_NODE_FLAGS : []),
  ...(options.nodeArgs ?? []),
  "--import",
  "tsx",
  `apps/webapp/${entry}`,
  ...(options.args ?? []),
];

/** What every webapp process needs: its database, its Redis and the key prefix it writes under there. */
export interface WebappServices {
  databaseUrl: string;
  redisUrl: string;
  redisKeyPrefix?: string;
  /** More settings (apps/webapp/app/env.server.ts), e.g. shorter timings for a test. */
  env?: Record<string, string>;
}

export interface ChildHandle {
  child: ChildProcess;
  /** Resolves with the exit code, or the signal's name. */
  exited: Promise<string>;
  /** SIGTERM (the process shuts down cleanly), SIGKILL after 10 s. */
  stop(): Promise<string>;
  /** SIGKILL at once: a crash. */
  kill9(): Promise<string>;
  /** CPU seconds the process has used so far (Linux; NaN elsewhere). */
  cpuSeconds(): number;
}

export interface WebappProcess extends ChildHandle {
  url: string;
}

function servicesEnv(services: WebappServices): Record<string, string> {
  return {
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    ...(services.redisKeyPrefix ? { REDIS_KEY_PREFIX: services.redisKeyPrefix } : {}),
    LOG_LEVEL: "warn",
    ...services.env,
  };
}

function handle(child: ChildProcess): ChildHandle {
  const exited = new Promise<string>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(String(child.signalCode ?? child.exitCode));
    else child.once("exit", (code, signal) => resolve(signal ?? String(code)));
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    exited,
    stop: () => stopChild(child).then(() => exited),
    kill9: () => {
      if (running()) child.kill("SIGKILL");
      return exited;
    },
    cpuSeconds: () => cpuSeconds(child.pid),
  };
}

/**
 * Starts the webapp on `port` (a free one unless given) with the run worker off (runs are executed by
 * spawnWorker's process) and resolves once `/healthz` answers. `mode: "development"` serves through
 * Vite instead of the production bundle, which is (re)built first when stale.
 */
export async function spawnWebapp(
  options: WebappServices & {
    electricOrigin?: string;
    port?: number;
    mode?: "production" | "development";
    /** Node's own flags (e.g. `--cpu-prof`). */
    nodeArgs?: string[];
    stdio?: StdioOptions;
    timeoutMs?: number;
    /** Hears why and how the production bundle is being built, when it is. */
    log?: (line: string) => void;
  },
): Promise<WebappProcess> {
  const mode = options.mode ?? "production";
  if (mode === "production") {
    if (options.log) await ensureBuilt(WEBAPP_BUILD, options.log);
    else ensureBuiltSync(WEBAPP_BUILD);
  }
  const port = options.port ?? (await freePort());
  const child = spawn(process.execPath, webappArgs("server/index.ts", { nodeArgs: options.nodeArgs }), {
    cwd: ROOT,
    env: {
      ...process.env,
      NODE_ENV: mode,
      HOST: "127.0.0.1",
      PORT: String(port),
      WORKER_ENABLED: "false",
      ...(options.electricOrigin ? { ELECTRIC_ORIGIN: options.electricOrigin } : {}),
      ...servicesEnv(options),
    },
    stdio: options.stdio ?? ["ignore", "inherit", "inherit"],
  });
  const webapp = { ...handle(child), url: `http://127.0.0.1:${port}` };
  try {
    await waitForHttp(
      `${webapp.url}/healthz`,
      options.timeoutMs ?? 120_000,
      () => true,
      () => child.exitCode === null && child.signalCode === null,
    );
  } catch (error) {
    await webapp.stop();
    throw error;
  }
  return webapp;
}

/**
 * Starts a worker process: it executes queued runs (calling back into the webapp at `appOrigin`) and
 * fires the lifecycle's timers. It has no readiness signal of its own; a run it picks up is the proof.
 */
export function spawnWorker(options: WebappServices & { appOrigin: string; stdio?: StdioOptions }): ChildHandle {
  const child = spawn(process.execPath, webappArgs("server/worker.ts"), {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: "production", APP_ORIGIN: options.appOrigin, ...servicesEnv(options) },
    stdio: options.stdio ?? ["ignore", "inherit", "inherit"],
  });
  return handle(child);
}

export interface SeededEnvironment {
  id: string;
  slug: string;
  type: string;
  apiKey: string;
}

/** Seeds the demo organisation, project (dev, staging, prod) and sign-in with the webapp's seed script. */
export async function seedDemo(services: WebappServices): Promise<{
  organizationId: string;
  projectId: string;
  environments: SeededEnvironment[];
  user: { email: string; password: string };
}> {
  const out = await runToCompletion(process.execPath, webappArgs("server/seed.ts"), {
    cwd: ROOT,
    env: { NODE_ENV: "production", ...servicesEnv(services) },
  });
  return JSON.parse(out);
}
