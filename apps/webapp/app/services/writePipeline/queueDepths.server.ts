/**
 * How long the write pipeline's streams are, read from Redis every `intervalMs` by each instance
 * (one pipelined round trip for all streams): the input of backpressure and of the depth and
 * oldest-entry-age gauges. Between two reads the last one stands.
 */
import type { Redis } from "ioredis";
import type { BufferedClass } from "@runfeed/core";
import { BUFFERED_CLASSES } from "@runfeed/core";
import { statsKey } from "./pipelineStats.server";
import { streamIdTime, type StreamName } from "./streamNames.server";

export interface StreamDepth {
  stream: StreamName;
  /** Entries not yet applied (acknowledged entries are trimmed). */
  depth: number;
  /** Age of the oldest entry in ms; 0 when empty. */
  oldestAgeMs: number;
}

export interface QueueDepthsOptions {
  redis: Redis;
  streams: StreamName[];
  intervalMs: number;
  keyPrefix: string;
  /** Whether this instance serves critical writes now (stamped for the others to see). */
  criticalActive?: () => boolean;
  onRead?: (depths: StreamDepth[]) => void;
  onError?: (error: unknown) => void;
}

export class QueueDepths {
  #latest: StreamDepth[] = [];
  #drainRate: Record<BufferedClass, number> = { high: 0, low: 0 };
  #criticalAnywhere = false;
  #timer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];
  #stopped = false;

  constructor(private readonly options: QueueDepthsOptions) {}

  start() {
    if (this.#timer) return;
    this.#stopped = false;
    const tick = async () => {
      try {
        await this.read();
      } catch (error) {
        this.options.onError?.(error);
      }
      if (this.#timer) this.#timer = setTimeout(tick, this.options.intervalMs);
    };
    this.#timer = setTimeout(tick, 0);
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Reads every stream's length and first entry now. */
  async read(): Promise<StreamDepth[]> {
    const { keyPrefix, streams, intervalMs } = this.options;
    const pipeline = this.options.redis.pipeline();
    for (const stream of streams) {
      pipeline.xlen(stream.key);
      pipeline.xrange(stream.key, "-", "+", "COUNT", 1);
    }
    const lastSecond = Date.now() - 1000;
    for (const urgency of BUFFERED_CLASSES) pipeline.hget(statsKey(keyPrefix, urgency, lastSecond), "entries");
    const criticalKey = `${keyPrefix}wp:critical`;
    if (this.options.criticalActive?.()) pipeline.set(criticalKey, "1", "PX", 4 * intervalMs);
    pipeline.exists(criticalKey);
    const results = (await pipeline.exec()) ?? [];
    const now = Date.now();
    const extra = results.slice(2 * streams.length);
    BUFFERED_CLASSES.forEach((urgency, i) => {
      this.#drainRate[urgency] = Number(extra[i]?.[1] ?? 0);
    });
    this.#criticalAnywhere = Number(extra.at(-1)?.[1] ?? 0) > 0;
    this.#latest = streams.map((stream, i) => {
      const [lenError, len] = results[2 * i] ?? [];
      const [rangeError, range] = results[2 * i + 1] ?? [];
      if (lenError || rangeError) throw lenError ?? rangeError;
      const first = (range as Array<[string, string[]]>)[0];
      return {
        stream,
        depth: Number(len),
        oldestAgeMs: first ? Math.max(0, now - streamIdTime(first[0])) : 0,
      };
    });
    this.options.onRead?.(this.#latest);
    for (const wake of this.#waiters.splice(0)) wake();
    return this.#latest;
  }

  get latest(): readonly StreamDepth[] {
    return this.#latest;
  }

  /** Queued entries of one class, over all its partitions (as of the last read). */
  depthOf(urgency: BufferedClass): number {
    let total = 0;
    for (const d of this.#latest) if (d.stream.urgency === urgency) total += d.depth;
    return total;
  }

  /** Stream entries of a class applied per second (all drains, the last complete second as of the last read). */
  drainRateOf(urgency: BufferedClass): number {
    return this.#drainRate[urgency];
  }

  /** Whether any instance served critical writes within the last few reads. */
  get criticalAnywhere(): boolean {
    return this.#criticalAnywhere;
  }

  /** Resolves at the next read (or stop). */
  nextRead(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
