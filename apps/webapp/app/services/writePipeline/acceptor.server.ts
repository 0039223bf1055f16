/**
 * The accept path (docs/decisions/092-write-pipeline.md): validated items are grouped by partition
 * and appended with one XADD per partition by one Lua script, so a request is queued whole or not at
 * all, atomically; then answered. With Redis's append-only file on, the script's reply comes after
 * its writes are in the file (and, with appendfsync always, fsynced): the answer means "durable,
 * applied soon".
 *
 * A request may carry a key (the `x-trigger-request-idempotency-key` header, reused across a client's
 * retries): the script records it (`SET NX`, kept DEDUPE_TTL_S) in the same atomic step, and a
 * request whose key is already recorded appends nothing and is answered as accepted. A client that
 * retries an answer it never received (Redis or the webapp died after the append) therefore queues
 * its items once.
 *
 * An entry carries the environment (the drain applies an item only to a run of that environment)
 * and the items as JSON.
 */
import type { Redis } from "ioredis";
import type { BufferedClass } from "@runfeed/core";
import type { Admission, Backpressure } from "./backpressure.server";
import { statsKey } from "./pipelineStats.server";
import { partitionOf, streamName } from "./streamNames.server";

export const ENTRY_FIELDS = { environment: "e", items: "d" } as const;
const DEDUPE_TTL_S = 24 * 3600;

/** KEYS: dedupe key, stats key, streams…; ARGV: use dedupe (1/0), ttl, environment, count, items JSON per stream. */
const APPEND = `
if ARGV[1] == '1' and not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return 0 end
for i = 3, #KEYS do
  redis.call('XADD', KEYS[i], '*', '${ENTRY_FIELDS.environment}', ARGV[3], '${ENTRY_FIELDS.items}', ARGV[i + 2])
end
redis.call('HINCRBY', KEYS[2], 'accepted', ARGV[4])
redis.call('EXPIRE', KEYS[2], 300)
return 1`;

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
    requestKey?: string,
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
    const dedupeKey = `${keyPrefix}wp:request:${environmentId}:${requestKey ?? ""}`;
    const keys = [dedupeKey, statsKey(keyPrefix, urgency, Date.now())];
    const groups: string[] = [];
    for (const [partition, group] of byPartition) {
      keys.push(streamName(keyPrefix, urgency, partition).key);
      groups.push(JSON.stringify(group));
    }
    const args = [requestKey ? "1" : "0", DEDUPE_TTL_S, environmentId, items.length, ...groups];
    let appended: unknown;
    try {
      appended = await redis.eval(APPEND, keys.length, ...keys, ...args);
    } catch (error) {
      return { kind: "unavailable", reason: (error as Error).message };
    }
    if (appended === 1) this.options.onAccepted?.(urgency, items.length);
    return { kind: "accepted", duplicate: appended !== 1 };
  }
}

export type AcceptOutcome =
  /** `duplicate`: the request's key was seen before; nothing was appended this time. */
  | { kind: "accepted"; duplicate: boolean }
  | Extract<Admission, { kind: "refused" }>
  /** Redis could not be reached or refused the transaction: nothing was queued. */
  | { kind: "unavailable"; reason: string };
