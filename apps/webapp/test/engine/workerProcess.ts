/**
 * A worker process (apps/webapp/server/worker.ts, devstack's spawnWorker) for a test webapp's
 * database and Redis prefix, with the lifecycle tests' short timings: spawn, wait until it runs, kill -9.
 */
import { spawnWorker as spawnWorkerProcess, type ChildHandle } from "@runfeed/devstack";
import type { TestWebapp } from "../support/webapp.js";
import { LIFECYCLE_TIMING } from "./support.js";

export type WorkerProcess = ChildHandle;

export function spawnWorker(app: TestWebapp): WorkerProcess {
  const env = app.webapp.services.env;
  return spawnWorkerProcess({
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    redisKeyPrefix: env.REDIS_KEY_PREFIX,
    appOrigin: app.url,
    env: {
      NODE_ENV: "test",
      WORKER_HEARTBEAT_INTERVAL_MS: String(LIFECYCLE_TIMING.heartbeatIntervalMs),
      WORKER_HEARTBEAT_TIMEOUT_MS: String(LIFECYCLE_TIMING.heartbeatTimeoutMs),
      WORKER_CANCEL_GRACE_PERIOD_MS: String(LIFECYCLE_TIMING.cancelGracePeriodMs),
      ENGINE_SWEEP_INTERVAL_MS: String(LIFECYCLE_TIMING.sweepIntervalMs),
      ENGINE_TIMER_POLL_INTERVAL_MS: String(LIFECYCLE_TIMING.timerPollIntervalMs),
    },
  });
}
