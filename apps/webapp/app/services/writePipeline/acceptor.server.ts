/**
 * The accept path (docs/decisions/091-write-pipeline.md): validated items are grouped by partition
 * and appended with one XADD per partition, all in one MULTI, so a request is queued whole or not at
 * all; then answered. With Redis's append-only file on, EXEC returns after the entries are written
 * to it (and, with appendfsync always, fsynced): the answer means "durable, applied soon".
 *
 * An entry carries the environment (the drain applies an item only to a run of that environment)
 * and the items as JSON.
 */
import type { Redis } from "ioredis";
import type { BufferedClass } from "@runfeed/core";
import type { Admission, Backpressure } from "./backpressure.server";
import { addStats } from "./pipelineStats.server";
import { partitionOf, streamName } from "./streamNames.server";

export const ENTRY_FIELDS = { environment: "e", items: "d" } as const;

export interface AcceptorOptions {
  redis: Redis;
  keyPrefix: string;
  partitions: number;
  backpressure: Backpressure;
  onAccepted?: (urgency: BufferedClass, items: number) => void;
}

export class WriteAcceptor {
  constructor(private readonly options: AcceptorOptions) {}

  /**
   * Appends every item or none. Outcomes are values, not thrown errors: the route module (loaded by
   * Remix's bundler) turns them into HTTP answers with its own error classes.
   */
  async accept(
    urgency: BufferedClass,
    environmentId: string,
    items: ReadonlyArray<{ runId: string }>,
  ): Promise<AcceptOutcome> {
    const { redis, keyPrefix, partitions } = this.options;
    const admission = await this.options.backpressure.admit(urgency);
    if (admission.kind === "refused") return admission;
    const byPartition = new Map<number, Array<{ runId: string }>>();
    for (const item of items) {
      const partition = partitionOf(item.runId, partitions);
      const group = byPartition.get(partition);
      if (group) group.push(item);
      else byPartition.set(partition, [item]);
    }
    const tx = redis.multi();
    for (const [partition, group] of byPartition) {
      const { key } = streamName(keyPrefix, urgency, partition);
      tx.xadd(key, "*", ENTRY_FIELDS.environment, environmentId, ENTRY_FIELDS.items, JSON.stringify(group));
    }
    addStats(tx, keyPrefix, urgency, { accepted: items.length });
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await tx.exec();
    } catch (error) {
      return { kind: "unavailable", reason: (error as Error).message };
    }
    const failed = results?.find(([error]) => error);
    if (!results || failed) return { kind: "unavailable", reason: failed?.[0]?.message ?? "transaction aborted" };
    this.options.onAccepted?.(urgency, items.length);
    return { kind: "accepted" };
  }
}

export type AcceptOutcome =
  | { kind: "accepted" }
  | Extract<Admission, { kind: "refused" }>
  /** Redis could not be reached or refused the transaction: nothing was queued. */
  | { kind: "unavailable"; reason: string };
