/**
 * Where buffered writes live in Redis (docs/decisions/092-write-pipeline.md): one stream per buffered
 * class and partition, `<prefix>wp:<class>:<partition>`, read through one consumer group. A run's
 * items always go to the same partition (a hash of the run id as the client wrote it), so they are
 * applied in the order they were accepted.
 */
import { BUFFERED_CLASSES, type BufferedClass } from "@runfeed/core";

export const CONSUMER_GROUP = "drain";

export interface StreamName {
  urgency: BufferedClass;
  partition: number;
  /** The Redis key. */
  key: string;
  /** The name recorded in WritePipelineCursor: the key (two prefixes on one database never share a cursor). */
  cursor: string;
}

export function streamName(keyPrefix: string, urgency: BufferedClass, partition: number): StreamName {
  const key = `${keyPrefix}wp:${urgency}:${partition}`;
  return { urgency, partition, key, cursor: key };
}

export function allStreams(keyPrefix: string, partitions: number): StreamName[] {
  return BUFFERED_CLASSES.flatMap((urgency) =>
    Array.from({ length: partitions }, (_, partition) => streamName(keyPrefix, urgency, partition)),
  );
}

/** The lease key of a stream: who drains it now. */
export const leaseKey = (stream: StreamName) => `${stream.key}:lease`;

/** FNV-1a over the run id: stable across processes and versions. */
export function partitionOf(runId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < runId.length; i++) {
    hash ^= runId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/** A Redis stream id `<ms>-<seq>` as a comparable pair. */
export function parseStreamId(id: string): [bigint, bigint] {
  const [ms, seq] = id.split("-");
  return [BigInt(ms ?? "0"), BigInt(seq ?? "0")];
}

export function compareStreamIds(a: string, b: string): number {
  const [am, as] = parseStreamId(a);
  const [bm, bs] = parseStreamId(b);
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** When the entry was appended (its id's millisecond part). */
export const streamIdTime = (id: string) => Number(id.split("-")[0]);
