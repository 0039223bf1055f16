/**
 * A worker process (apps/webapp/server/worker.ts) for a test's database: spawn, wait until it runs,
 * kill -9.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TestWebapp } from "../support/webapp.js";
import { LIFECYCLE_TIMING } from "./support.js";

const WORKER_ENTRY = fileURLToPath(new URL("../../server/worker.ts", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  /** Resolves with the exit code or signal. */
  exited: Promise<string>;
  kill9(): Promise<string>;
  stop(): Promise<string>;
}

export function spawnWorker(app: TestWebapp): WorkerProcess {
  const env = app.webapp.services.env;
  const child = spawn(process.execPath, ["--import", "tsx", WORKER_ENTRY], {
    env: {
      ...process.env,
      NODE_ENV: "test",
      LOG_LEVEL: "warn",
      DATABASE_URL: env.DATABASE_URL,
      REDIS_URL: env.REDIS_URL,
      REDIS_KEY_PREFIX: env.REDIS_KEY_PREFIX,
      APP_ORIGIN: app.url,
      WORKER_HEARTBEAT_INTERVAL_MS: String(LIFECYCLE_TIMING.heartbeatIntervalMs),
      WORKER_HEARTBEAT_TIMEOUT_MS: String(LIFECYCLE_TIMING.heartbeatTimeoutMs),
      WORKER_CANCEL_GRACE_PERIOD_MS: String(LIFECYCLE_TIMING.cancelGracePeriodMs),
      ENGINE_SWEEP_INTERVAL_MS: String(LIFECYCLE_TIMING.sweepIntervalMs),
      ENGINE_TIMER_POLL_INTERVAL_MS: String(LIFECYCLE_TIMING.timerPollIntervalMs),
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  const exited = new Promise<string>((resolve) =>
    child.once("exit", (code, signal) => resolve(signal ?? String(code))),
  );
  return {
    child,
    exited,
    kill9: () => {
      child.kill("SIGKILL");
      return exited;
    },
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}
