/**
 * Run status: the DB enum (`TaskRunStatus`, streamed raw) and the public status the SDK shows
 * (realtime-contract §5.3, `apiStatusFromRunStatus` in the SDK). The server streams the raw name
 * and only the REST responses (retrieve) carry the public one.
 */
import { TRIGGER_API_VERSION, type TriggerApiVersion } from "./trigger-protocol.js";

export const TASK_RUN_STATUSES = [
  "DELAYED",
  "PENDING",
  "PENDING_VERSION",
  "WAITING_FOR_DEPLOY",
  "DEQUEUED",
  "EXECUTING",
  "WAITING_TO_RESUME",
  "RETRYING_AFTER_FAILURE",
  "PAUSED",
  "CANCELED",
  "INTERRUPTED",
  "COMPLETED_SUCCESSFULLY",
  "COMPLETED_WITH_ERRORS",
  "SYSTEM_FAILURE",
  "CRASHED",
  "EXPIRED",
  "TIMED_OUT",
] as const;
export type TaskRunStatus = (typeof TASK_RUN_STATUSES)[number];

export const PUBLIC_RUN_STATUSES = [
  "PENDING_VERSION",
  "QUEUED",
  "DEQUEUED",
  "EXECUTING",
  "WAITING",
  "COMPLETED",
  "CANCELED",
  "FAILED",
  "CRASHED",
  "SYSTEM_FAILURE",
  "DELAYED",
  "EXPIRED",
  "TIMED_OUT",
] as const;
export type PublicRunStatus = (typeof PUBLIC_RUN_STATUSES)[number];

const PUBLIC_STATUS: Record<TaskRunStatus, PublicRunStatus> = {
  DELAYED: "DELAYED",
  WAITING_FOR_DEPLOY: "PENDING_VERSION",
  PENDING_VERSION: "PENDING_VERSION",
  PENDING: "QUEUED",
  PAUSED: "WAITING",
  WAITING_TO_RESUME: "WAITING",
  DEQUEUED: "DEQUEUED",
  RETRYING_AFTER_FAILURE: "EXECUTING",
  EXECUTING: "EXECUTING",
  CANCELED: "CANCELED",
  COMPLETED_SUCCESSFULLY: "COMPLETED",
  SYSTEM_FAILURE: "SYSTEM_FAILURE",
  CRASHED: "CRASHED",
  EXPIRED: "EXPIRED",
  TIMED_OUT: "TIMED_OUT",
  INTERRUPTED: "FAILED",
  COMPLETED_WITH_ERRORS: "FAILED",
};

/**
 * DB status → public status. Unknown values map to QUEUED, as the SDK does. `apiVersion` "none"
 * (clients older than 2025-07-16) never sees DEQUEUED: it becomes EXECUTING.
 */
export function publicStatusFromRunStatus(
  status: string,
  apiVersion: TriggerApiVersion | "none" = TRIGGER_API_VERSION,
): PublicRunStatus {
  const mapped = PUBLIC_STATUS[status as TaskRunStatus] ?? "QUEUED";
  return apiVersion === "none" && mapped === "DEQUEUED" ? "EXECUTING" : mapped;
}

const QUEUED = new Set<string>(["PENDING_VERSION", "QUEUED", "PENDING", "DELAYED"]);
const EXECUTING = new Set<string>(["DEQUEUED", "EXECUTING"]);
const FAILED = new Set<string>(["FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"]);

export const isQueuedStatus = (status: PublicRunStatus) => QUEUED.has(status);
export const isWaitingStatus = (status: PublicRunStatus) => status === "WAITING";
export const isExecutingStatus = (status: PublicRunStatus) => EXECUTING.has(status);
export const isFailedStatus = (status: PublicRunStatus) => FAILED.has(status);
export const isSuccessStatus = (status: PublicRunStatus) => status === "COMPLETED";
/** Success or failure; CANCELED is not "completed" (§5.3). */
export const isCompletedStatus = (status: PublicRunStatus) => isSuccessStatus(status) || isFailedStatus(status);
export const isCancelledStatus = (status: PublicRunStatus) => status === "CANCELED";

export interface RunStatusFlags {
  isQueued: boolean;
  isExecuting: boolean;
  isWaiting: boolean;
  isCompleted: boolean;
  isSuccess: boolean;
  isFailed: boolean;
  isCancelled: boolean;
}

export function runStatusFlags(status: PublicRunStatus): RunStatusFlags {
  return {
    isQueued: isQueuedStatus(status),
    isExecuting: isExecutingStatus(status),
    isWaiting: isWaitingStatus(status),
    isCompleted: isCompletedStatus(status),
    isSuccess: isSuccessStatus(status),
    isFailed: isFailedStatus(status),
    isCancelled: isCancelledStatus(status),
  };
}

/** DB statuses after which a run never changes state again; reaching one sets `completedAt` (§5.3, checklist #23). */
export const FINAL_RUN_STATUSES: readonly TaskRunStatus[] = [
  "CANCELED",
  "INTERRUPTED",
  "COMPLETED_SUCCESSFULLY",
  "COMPLETED_WITH_ERRORS",
  "SYSTEM_FAILURE",
  "CRASHED",
  "EXPIRED",
  "TIMED_OUT",
];
export const isFinalRunStatus = (status: string) => (FINAL_RUN_STATUSES as readonly string[]).includes(status);
