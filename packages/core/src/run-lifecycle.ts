/**
 * The run lifecycle's rules (docs/decisions/093-run-lifecycle-timers.md): which status may follow
 * which, the retry backoff, and the internal error codes the engine writes (realtime-contract §5.4).
 * Pure: no I/O.
 */
import type { TaskRunStatus } from "./status.js";

/**
 * Every transition the engine makes. A status not listed as a successor of the current one is a step
 * backwards, which the feed must never show. The one cycle is a new attempt: a failed or crashed
 * attempt waits in RETRYING_AFTER_FAILURE, is queued again (PENDING) and executes again; a worker
 * that shuts down mid-run hands the run back to the queue (EXECUTING → PENDING) the same way.
 */
export const RUN_STATUS_TRANSITIONS: Readonly<Record<TaskRunStatus, readonly TaskRunStatus[]>> = {
  DELAYED: ["PENDING", "EXPIRED", "CANCELED"],
  PENDING: ["EXECUTING", "DEQUEUED", "EXPIRED", "CANCELED"],
  PENDING_VERSION: ["PENDING", "CANCELED"],
  WAITING_FOR_DEPLOY: ["PENDING", "CANCELED"],
  DEQUEUED: ["EXECUTING", "PENDING", "CANCELED"],
  EXECUTING: [
    "COMPLETED_SUCCESSFULLY",
    "COMPLETED_WITH_ERRORS",
    "SYSTEM_FAILURE",
    "RETRYING_AFTER_FAILURE",
    "CRASHED",
    "TIMED_OUT",
    "CANCELED",
    "PENDING",
    "WAITING_TO_RESUME",
  ],
  WAITING_TO_RESUME: ["EXECUTING", "CANCELED"],
  RETRYING_AFTER_FAILURE: ["PENDING", "CANCELED"],
  PAUSED: ["PENDING", "CANCELED"],
  CANCELED: [],
  INTERRUPTED: [],
  COMPLETED_SUCCESSFULLY: [],
  COMPLETED_WITH_ERRORS: [],
  SYSTEM_FAILURE: [],
  CRASHED: [],
  EXPIRED: [],
  TIMED_OUT: [],
};

/** True when `to` may follow `from` (an unchanged status is always fine: another column changed). */
export function isRunStatusTransitionAllowed(from: string, to: string): boolean {
  if (from === to) return true;
  return (RUN_STATUS_TRANSITIONS[from as TaskRunStatus] ?? []).includes(to as TaskRunStatus);
}

/** Retry settings of a task (its definition) or of one trigger (`maxAttempts`); the trigger's win. */
export interface RetryOptions {
  /** Attempts in all, the first included; 1 means no retry. */
  maxAttempts?: number;
  factor?: number;
  minTimeoutInMs?: number;
  maxTimeoutInMs?: number;
  /** Full jitter between 1× and 2× the computed delay. */
  randomize?: boolean;
}

/** Without settings a run gets one attempt, as before this engine existed. */
export const DEFAULT_RETRY_OPTIONS: Required<RetryOptions> = {
  maxAttempts: 1,
  factor: 2,
  minTimeoutInMs: 1_000,
  maxTimeoutInMs: 30_000,
  randomize: true,
};

/** Upper bound on `maxAttempts`, whatever a trigger asks for. */
export const MAX_RUN_ATTEMPTS = 100;

export function resolveRetryOptions(...layers: Array<RetryOptions | null | undefined>): Required<RetryOptions> {
  const merged = { ...DEFAULT_RETRY_OPTIONS };
  for (const layer of layers) {
    if (!layer) continue;
    for (const [key, value] of Object.entries(layer)) {
      if (value !== undefined && value !== null) (merged as Record<string, unknown>)[key] = value;
    }
  }
  merged.maxAttempts = Math.max(1, Math.min(MAX_RUN_ATTEMPTS, Math.floor(merged.maxAttempts)));
  return merged;
}

/**
 * Delay before attempt `nextAttempt` (2 for the first retry): exponential from `minTimeoutInMs` by
 * `factor`, capped at `maxTimeoutInMs`; with `randomize`, a uniform jitter of up to the same again.
 */
export function retryDelayMs(options: Required<RetryOptions>, nextAttempt: number, random: () => number = Math.random) {
  const exponent = Math.max(0, nextAttempt - 2);
  const base = Math.min(options.maxTimeoutInMs, options.minTimeoutInMs * options.factor ** exponent);
  const jittered = options.randomize ? base * (1 + random()) : base;
  return Math.round(Math.min(options.maxTimeoutInMs, jittered));
}

/** `TaskRunError` INTERNAL_ERROR codes the engine writes (the SDK's own list has these names). */
export const RUN_ERROR_CODES = {
  heartbeatTimeout: "TASK_RUN_HEARTBEAT_TIMEOUT",
  maxDurationExceeded: "MAX_DURATION_EXCEEDED",
  cancelled: "TASK_RUN_CANCELLED",
  couldNotFindTask: "COULD_NOT_FIND_TASK",
} as const;

/** The string error an expired run carries (realtime-contract §5.3); `{ttl}` stands for the run's TTL. */
export const EXPIRED_RUN_MESSAGE_TEMPLATE = "Run expired because the TTL ({ttl}) was reached";

export interface InternalRunError {
  type: "INTERNAL_ERROR";
  code: (typeof RUN_ERROR_CODES)[keyof typeof RUN_ERROR_CODES];
  message: string;
}

export const internalRunError = (code: InternalRunError["code"], message: string): InternalRunError => ({
  type: "INTERNAL_ERROR",
  code,
  message,
});
