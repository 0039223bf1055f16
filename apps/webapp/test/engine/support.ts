/**
 * A webapp with a shape server (the realtime feed end to end) plus, in this process, a worker and the
 * engine's timers with short deadlines, for the lifecycle tests. The official @trigger.dev/sdk is
 * configured against it.
 */
import { configure, runs } from "@trigger.dev/sdk";
import { isRunStatusTransitionAllowed } from "@runfeed/core";
import { exampleTasks } from "@runfeed/example-tasks";
import type { TaskDefinition } from "@runfeed/sdk";
import { TaskRegistry } from "../../app/worker/taskRegistry.server.js";
import { RunEngine } from "../../app/engine/runEngine.server.js";
import { RunWorker } from "../../app/worker/runWorker.server.js";
import { startWebappWithShapeServer } from "../support/shapeServer.js";
import type { TestWebapp } from "../support/webapp.js";

export interface LifecycleApp {
  app: TestWebapp;
  worker: RunWorker;
  engines: RunEngine[];
  /** Starts one more engine (another instance's timers) on the same database. */
  addEngine(): Promise<RunEngine>;
  close(): Promise<void>;
}

export const LIFECYCLE_TIMING = {
  heartbeatIntervalMs: 100,
  heartbeatTimeoutMs: 1_500,
  cancelGracePeriodMs: 500,
  sweepIntervalMs: 200,
  timerPollIntervalMs: 50,
} as const;

export async function startLifecycleApp(
  options: {
    tasks?: ReadonlyArray<TaskDefinition<any, any>>;
    concurrency?: number;
    /** false: no worker or timers in this process (worker processes are spawned instead). */
    inProcess?: boolean;
  } = {},
): Promise<LifecycleApp> {
  const stack = await startWebappWithShapeServer();
  const { app } = stack;
  const { prisma, sqlPool, logger, metadataWriter } = app.webapp.services;
  const tasks = new TaskRegistry(options.tasks ?? exampleTasks);
  const worker = new RunWorker({
    prisma,
    pool: sqlPool,
    logger,
    metadataWriter,
    tasks,
    concurrency: options.concurrency ?? 4,
    pollIntervalMs: 50,
    heartbeatIntervalMs: LIFECYCLE_TIMING.heartbeatIntervalMs,
    cancelGracePeriodMs: LIFECYCLE_TIMING.cancelGracePeriodMs,
  });
  const engines: RunEngine[] = [];
  const addEngine = async () => {
    const engine = new RunEngine({
      prisma,
      connectionString: app.database.url,
      logger,
      retryOptionsOf: (id) => tasks.get(id)?.retry,
      onQueued: () => worker.wake(),
      heartbeatTimeoutMs: LIFECYCLE_TIMING.heartbeatTimeoutMs,
      sweepIntervalMs: LIFECYCLE_TIMING.sweepIntervalMs,
      timerPollIntervalMs: LIFECYCLE_TIMING.timerPollIntervalMs,
      timerConcurrency: 4,
    });
    await engine.start();
    engines.push(engine);
    return engine;
  };
  if (options.inProcess !== false) {
    await addEngine();
    worker.start();
  }
  const environment = app.project.environments.find((e) => e.slug === "prod")!;
  configure({ baseURL: app.url, accessToken: environment.apiKey });
  return {
    app,
    worker,
    engines,
    addEngine,
    async close() {
      await worker.stop();
      for (const engine of engines) await engine.stop();
      await stack.close();
    },
  };
}

export interface FeedStep {
  status: string;
  attemptError: boolean;
  finished: boolean;
}

/**
 * Every update the official SDK yields for one run until it finishes (or `until` says so), with
 * consecutive duplicates of the same step collapsed.
 */
export async function watchRun(
  runId: string,
  options: {
    until?: (step: FeedStep) => boolean;
    /** Runs once the feed is open (after its first update): make the change the test watches here. */
    onOpen?: () => Promise<unknown>;
  } = {},
): Promise<FeedStep[]> {
  const until = options.until ?? ((step: FeedStep) => step.finished);
  let onOpen = options.onOpen;
  const steps: FeedStep[] = [];
  const subscription = runs.subscribeToRun(runId);
  for await (const run of subscription) {
    const step = { status: run.status, attemptError: Boolean(run.error), finished: Boolean(run.finishedAt) };
    const last = steps.at(-1);
    if (!last || last.status !== step.status || last.attemptError !== step.attemptError) steps.push(step);
    if (until(step)) {
      subscription.unsubscribe();
      break;
    }
    if (onOpen) {
      const open = onOpen;
      onOpen = undefined;
      await open();
    }
  }
  return steps;
}

export const statusesOf = (steps: FeedStep[]) => steps.map((step) => step.status);

/**
 * `expected` in order within `steps` (other steps may come between: a feed may fold changes that
 * land within one poll into one update, so a state held for a few ms can be skipped).
 */
export function containsInOrder(steps: FeedStep[], expected: Array<[status: string, attemptError: boolean]>): boolean {
  let next = 0;
  for (const step of steps) {
    const [status, attemptError] = expected[next] ?? [];
    if (step.status === status && step.attemptError === attemptError) next++;
  }
  return next === expected.length;
}

/** Public statuses in the order a run may pass them within one attempt. */
const PUBLIC_RANK: Record<string, number> = { DELAYED: 0, QUEUED: 1, DEQUEUED: 2, EXECUTING: 3 };

/**
 * Steps that move backwards in the public feed: a lower rank after a higher one, except QUEUED after
 * an EXECUTING that carried an attempt's error (the run went through REATTEMPTING: a new attempt),
 * and anything after a finished step.
 */
export function backwardSteps(steps: FeedStep[]): string[] {
  const problems: string[] = [];
  for (let i = 1; i < steps.length; i++) {
    const before = steps[i - 1]!;
    const after = steps[i]!;
    if (before.finished) problems.push(`${before.status} (finished) → ${after.status}`);
    const from = PUBLIC_RANK[before.status];
    const to = PUBLIC_RANK[after.status];
    if (from === undefined || to === undefined || to >= from) continue;
    const newAttempt = before.status === "EXECUTING" && before.attemptError && after.status === "QUEUED";
    if (!newAttempt) problems.push(`${before.status} → ${after.status}`);
  }
  return problems;
}

export { isRunStatusTransitionAllowed };
