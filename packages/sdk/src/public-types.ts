/**
 * The few @runfeed/core types that appear in the SDK's public API, spelled out so the published
 * declaration file stands alone (@runfeed/core is private and bundled, docs/decisions/060-sdk-packaging.md).
 * The assertions below fail to compile if they ever drift from core.
 */
import type { MetadataOperation as CoreMetadataOperation, PublicRunStatus, RunStreamColumn } from "@runfeed/core";

export type RunStatus =
  | "PENDING_VERSION"
  | "QUEUED"
  | "DEQUEUED"
  | "EXECUTING"
  | "WAITING"
  | "COMPLETED"
  | "CANCELED"
  | "FAILED"
  | "CRASHED"
  | "SYSTEM_FAILURE"
  | "DELAYED"
  | "EXPIRED"
  | "TIMED_OUT";

/** Columns a subscriber may ask the server not to send (id, status, task and the two dates are always sent). */
export type RealtimeRunSkipColumn =
  | "startedAt"
  | "delayUntil"
  | "queuedAt"
  | "expiredAt"
  | "completedAt"
  | "number"
  | "isTest"
  | "usageDurationMs"
  | "costInCents"
  | "baseCostInCents"
  | "ttl"
  | "payload"
  | "payloadType"
  | "metadata"
  | "metadataType"
  | "output"
  | "outputType"
  | "runTags"
  | "error"
  | "realtimeStreams";

export type MetadataOperation =
  | { type: "set"; key: string; value: unknown }
  | { type: "delete"; key: string }
  | { type: "append"; key: string; value: unknown }
  | { type: "remove"; key: string; value: unknown }
  | { type: "increment"; key: string; value: number }
  | { type: "update"; value: Record<string, unknown> };

type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <T extends true>(_: T) => _;
same<Equals<RunStatus, PublicRunStatus>>(true);
same<
  Equals<
    RealtimeRunSkipColumn,
    Exclude<RunStreamColumn, "id" | "taskIdentifier" | "friendlyId" | "status" | "createdAt" | "updatedAt">
  >
>(true);
same<Equals<MetadataOperation, CoreMetadataOperation>>(true);
